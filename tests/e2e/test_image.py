"""cf as a container image: the repository's Dockerfile built on h1's engine (a Debian
base made here, the wheels carried in the build context: tests/support/cfimage.py),
pushed to the lab registry, and run on h1 as the example stack (examples/cf-web/,
word for word, with a .env naming the lab). Its UI is reached at h1's lab address,
logs in with the configured password, and starts a stack on h2; ``docker ps`` on
h2's engine says whether it runs. Then the stack that runs the UI is updated (a new
image) and restarted from that UI: h1's engine must show the new container running
and the UI must answer again, each time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from compose_farm.operations.selfupdate import LOG_DIR
from compose_farm.web.auth import CSRF_HEADER, SESSION_COOKIE
from tests.lab import Lab
from tests.support.cf import ok
from tests.support.cfimage import REPO, base_image, build, build_context, image_size
from tests.support.farm import Farm, FarmFactory, on
from tests.support.waiting import WAIT, poll
from tests.support.web import PASSWORD

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900), pytest.mark.xdist_group("cf-image")]

EXAMPLE = REPO / "examples" / "cf-web" / "compose.yaml"
RUNS_ON = "h1"
HOSTS = ("h1", "h2")
UID = 1000  # the image's user
SERVICE = "cf"


@dataclass(frozen=True)
class Image:
    ref: str
    context: Path
    build_seconds: float
    built: list[str]  # image ids to remove after the module

    def rebuild(self, lab: Lab, *args: str) -> str:
        """Build again under the same tag, push it; the new image's id."""
        build(lab, RUNS_ON, self.ref, self.context, *args)
        lab.docker(RUNS_ON, "push", self.ref, check=True)
        self.built.append(image_id(lab, self.ref))
        return self.built[-1]


def image_id(lab: Lab, ref: str) -> str:
    return lab.docker(RUNS_ON, "image", "inspect", "-f", "{{.Id}}", ref, check=True).stdout.strip()


@pytest.fixture(scope="module")
def image(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    """The Dockerfile built on h1 and pushed to the lab registry (removed from h1 after)."""
    context = build_context(tmp_path_factory.mktemp("image") / "context")
    ref = f"{lab.registry}/cf-test/compose-farm:e2e-{uuid.uuid4().hex[:8]}"
    seconds = build(lab, RUNS_ON, ref, context)
    lab.docker(RUNS_ON, "push", ref, check=True)
    built = Image(ref, context, seconds, [image_id(lab, ref)])
    try:
        yield built
    finally:
        lab.docker(RUNS_ON, "image", "rm", "-f", *reversed(built.built))  # children first
        # The build stage's image, left untagged (the base stays: importing it is the slow part).
        lab.docker(RUNS_ON, "image", "prune", "-f", "--filter", "label=compose-farm.stage=build")


@dataclass
class Ui:
    """The example stack running cf web on h1, as the test reaches it."""

    farm: Farm
    stack: str
    url: str
    origin: str

    @contextlib.contextmanager
    def login(self) -> Iterator[httpx.Client]:
        """A client with a password session, and the session's CSRF token set."""
        with httpx.Client(base_url=self.url, trust_env=False, timeout=30) as client:
            yield self._logged_in(client)

    def _logged_in(self, client: httpx.Client) -> httpx.Client:
        answer = client.post("/login", data={"password": PASSWORD})
        assert answer.status_code == 303, answer.text
        page = client.get("/", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
        assert found, page.text[:2000]
        client.headers[CSRF_HEADER] = found.group(1)
        return client

    def healthy(self) -> bool | None:
        try:
            answer = httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False)
        except httpx.HTTPError:
            return None
        return True if answer.status_code == 200 else None

    def container(self) -> dict[str, Any]:
        """``docker inspect`` of the stack's cf container on h1, from h1's engine."""
        lab = self.farm.lab
        ids = lab.docker(
            RUNS_ON,
            *(
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                f"label=com.docker.compose.project={self.stack}",
            ),
        ).stdout.split()
        assert len(ids) == 1, ids
        done = lab.docker(RUNS_ON, "inspect", ids[0], check=True)
        found: dict[str, Any] = json.loads(done.stdout)[0]
        return found

    def task_lines(self, client: httpx.Client, task: str) -> list[str]:
        """The task's output over its WebSocket, until ``done`` or until the server goes."""
        lines: list[str] = []
        cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"
        uri = self.url.replace("http://", "ws://") + f"/ws/tasks/{task}"
        try:
            with connect(
                uri, additional_headers={"Cookie": cookie, "Origin": self.origin}, open_timeout=30
            ) as ws:
                while True:
                    item = json.loads(ws.recv(timeout=WAIT))
                    lines.append(json.dumps(item))
                    if item.get("type") == "done":
                        return lines
        except (ConnectionClosed, OSError):
            return lines


def _ssh_dir(lab: Lab, folder: Path) -> Path:
    """known_hosts and the lab's key, readable by the image's user (as a user's ~/.ssh)."""
    folder.mkdir()
    for name in ("id_ed25519", "known_hosts"):
        shutil.copy2(lab.client_home / ".ssh" / name, folder / name)
    for path in (folder, *folder.iterdir()):
        os.chown(path, UID, UID)
    folder.chmod(0o700)
    (folder / "id_ed25519").chmod(0o600)
    return folder


def _chown_tree(folder: Path) -> None:
    for path in (folder, *folder.rglob("*")):
        os.chown(path, UID, UID)


@pytest.fixture
def ui(lab: Lab, make_farm: FarmFactory, image: Image, tmp_path: Path) -> Iterator[Ui]:
    """The example stack on h1 with a .env naming this farm, started with `cf up`."""
    farm = make_farm(HOSTS)
    name = farm.name("cfweb")
    address = lab.host(RUNS_ON).address
    port = random.randrange(20000, 30000)
    env = {
        "CF_IMAGE": image.ref,
        "CF_SELF_STACK": name,
        "CF_CONFIG_DIR": str(farm.folder),
        "CF_COMPOSE_DIR": str(farm.compose_dir),
        "CF_SSH_DIR": str(_ssh_dir(lab, tmp_path / "ssh")),
        "CF_WEB_BIND": address,
        "CF_WEB_PORT": str(port),
        "CF_WEB_NAME": address,
        "CF_WEB_PASSWORD": PASSWORD,
    }
    env_text = "".join(f"{k}={v}\n" for k, v in env.items())
    stack = farm.stack("cfweb", RUNS_ON, compose=EXAMPLE.read_text(), env=env_text)
    assert stack == name
    try:
        ok(farm.cf("up", stack))
        _chown_tree(farm.folder)  # the image's user writes the state beside the config
        found = Ui(farm, stack, f"http://{address}:{port}", f"http://{address}:{port}")
        poll(found.healthy, what=f"cf web in the container to answer on {found.url}")
        yield found
    finally:
        farm.hand_compose(RUNS_ON, stack, "down", "--volumes")  # and its cf-home volume
        lab.ssh(RUNS_ON, f"rm -f ~/{LOG_DIR}/{stack}.log")


def test_the_ui_in_the_container_starts_a_stack_on_another_host(
    lab: Lab, ui: Ui, image: Image, record_property: Any
) -> None:
    farm = ui.farm
    target = farm.stack("target", "h2")
    running = ui.container()
    # Not root, in the image and in the process that serves the UI.
    assert running["Config"]["User"] == "cf"
    status = lab.docker(RUNS_ON, "exec", running["Id"], "cat", "/proc/1/status", check=True)
    uids = next(line for line in status.stdout.splitlines() if line.startswith("Uid:"))
    assert uids.split()[1:] == [str(UID)] * 4, uids

    with ui.login() as client:
        started = client.post(f"/api/stack/{target}/up")
        assert started.status_code == 200, started.text
        task = started.json()["task"]
        lines = ui.task_lines(client, task)
    assert lines and json.loads(lines[-1]) == {
        "type": "done",
        "ok": True,
        "summary": "up: 1 stacks ok",
    }, lines
    assert farm.on_engines() == {ui.stack: on(RUNS_ON), target: on("h2")}
    assert farm.state()[target] == ("h2",)  # written by the container, beside the config

    size = image_size(lab, RUNS_ON, image.ref)
    added = size - image_size(lab, RUNS_ON, base_image(lab, RUNS_ON))
    record_property("image_bytes", size)
    record_property("build_seconds", round(image.build_seconds, 1))
    print(
        f"\ncf image: {size / 1e6:.0f} MB ({added / 1e6:.0f} MB over its Debian base), "
        f"built in {image.build_seconds:.0f} s"
    )
    assert added < 100e6  # cf and its dependencies; no compilers, caches or pip


def test_updating_and_restarting_its_own_stack_from_its_ui_brings_it_back(
    lab: Lab, ui: Ui, image: Image
) -> None:
    before = ui.container()
    # A new image under the same tag: `update` pulls it and Compose replaces the container
    # that serves the very request.
    new_image = image.rebuild(lab, "--label", f"cf-test.rev={uuid.uuid4().hex}")
    assert new_image != before["Image"]

    with ui.login() as client:
        started = client.post(f"/api/stack/{ui.stack}/update")
        assert started.status_code == 200, started.text
        lines = ui.task_lines(client, started.json()["task"])
    assert any("cf is restarting itself" in line for line in lines), lines

    def replaced() -> dict[str, Any] | None:
        try:
            now = ui.container()
        except AssertionError:  # between the old container's removal and the new one
            return None
        fresh = now["Id"] != before["Id"] and now["State"]["Running"]
        return now if fresh and ui.healthy() else None

    after = poll(replaced, what="the new cf container to run and its UI to answer")
    assert after["Image"] == new_image
    log = lab.ssh(RUNS_ON, f"cat ~/{LOG_DIR}/{ui.stack}.log", check=True).stdout
    assert "docker compose up -d" in log, log

    with ui.login() as client:  # the new container: a new server, the same password
        started = client.post(f"/api/stack/{ui.stack}/restart")
        assert started.status_code == 200, started.text
        ui.task_lines(client, started.json()["task"])

    def restarted() -> bool | None:
        now = ui.container()
        moved = now["State"]["StartedAt"] != after["State"]["StartedAt"]
        return True if moved and now["State"]["Running"] and ui.healthy() else None

    poll(restarted, what="the cf container to restart and its UI to answer")
    assert ui.container()["Id"] == after["Id"]  # restarted, not replaced
    with ui.login() as client:
        assert client.get("/api/tasks").status_code == 200
    log = lab.ssh(RUNS_ON, f"cat ~/{LOG_DIR}/{ui.stack}.log", check=True).stdout
    assert "docker compose restart" in log, log
