"""``.env`` values never reach the browser from container data or Compose errors.

On the lab: a stack whose ``.env`` holds ``SECRET=<unique>`` names its
container ``app-${SECRET}`` and prints ``ready ${SECRET}``; the UI's Up action
starts it on h1, so the engine's own ``docker ps`` and logs carry the secret.
Pages, partials, page contexts, task output, editor errors and WebSocket
frames are all searched for it; actions on the container still reach the real
container, by id, and the engine says what they did (``docker inspect``). A
``.env`` edited in the editor but not yet applied leaves the container running
with the old value: that one stays masked too (the editor's backup of the
``.env``, in cf's state folder on this machine, is read by the masker).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from compose_farm.config import load_config
from compose_farm.secrets import Secrets
from compose_farm.web.auth import CSRF_HEADER
from compose_farm.web.views import StackPage
from tests.lab import Lab
from tests.support.farm import Farm, open_farm
from tests.support.web import (
    ORIGIN,
    close_code,
    context_of,
    csrf_of,
    farm_of,
    follow_task,
    post_action,
    read_terminal,
    web_client,
)

pytestmark = [pytest.mark.lab, pytest.mark.timeout(60)]

HOSTS = ("h1", "h2")
COMPOSE = """\
services:
  app:
    image: {image}
    container_name: app-${{SECRET}}
    command: ["sh", "-c", "echo ready ${{SECRET}}; exec sleep 3600"]
    init: true
    stop_grace_period: 1s
"""
BROKEN_PORTS = "    ports: ['${SECRET}:x:y:z']\n"
HTML = {"accept": "text/html"}
STARTED_AT = "{{.State.StartedAt}}"


@dataclass
class Site:
    client: TestClient
    farm: Farm
    stack: str  # SECRET in its .env, on h1
    other: str  # another stack on h1, never started
    secret: str
    compose: str  # the stack's compose text as written
    state: Path  # $XDG_STATE_HOME: the editors' backups go below it

    @property
    def folder(self) -> Path:
        return self.farm.lab.compose_dir / self.stack

    def assert_clean(self, what: str, text: str) -> None:
        assert self.secret not in text, f"{what} shows the secret: {text}"


@pytest.fixture
def site(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("HOME", str(lab.client_home))  # the executor's SSH key and known_hosts
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    secret = f"hush{uuid.uuid4().hex[:12]}"
    compose = COMPOSE.format(image=lab.image)
    with open_farm(lab, tmp_path / "farm", HOSTS) as farm:
        stack = farm.stack("app", "h1", compose, env=f"SECRET={secret}\n")
        other = farm.stack("other", "h1")
        with web_client(farm.config_path) as client:
            yield Site(client, farm, stack, other, secret, compose, tmp_path / "state")


def start(site: Site) -> tuple[str, list[dict[str, Any]]]:
    """Start the stack with the UI's Up action: its container's id on h1, and the task's items.

    The engine names the container with the secret, so the pages have something to mask.
    """
    items = follow_task(
        site.client, post_action(site.client, f"/api/stack/{site.stack}/up", csrf_of(site.client))
    )
    assert items[-1]["ok"] is True, items
    [app] = [c for c in site.farm.containers() if c.project == site.stack]
    assert (app.host, app.name, app.state) == ("h1", f"app-{site.secret}", "running")
    farm_of(site.client).invalidate()
    return app.id, items


def test_stack_pages_and_partials_never_show_the_secret(site: Site) -> None:
    client = site.client
    cid, up = start(site)

    page = client.get(f"/stack/{site.stack}", headers=HTML)
    status = client.get(f"/stack/{site.stack}/status")

    for what, response in {"page": page, "status": status}.items():
        assert response.status_code == 200, response.text
        site.assert_clean(what, response.text)
        data: StackPage = context_of(response)["page"]
        site.assert_clean(f"{what} context", repr(data))
        [row] = data.containers
        assert (row.host, row.id, row.name, row.running) == ("h1", cid, "app-***", True)
    # The actions name the container by its id; nothing on the page needs its name.
    assert f'hx-post="/api/stack/{site.stack}/container/h1/{cid}/restart"' in status.text
    assert f'data-shell-container="{cid}"' in status.text
    assert f'data-logs-container="{cid}"' in status.text
    assert "app-***" in status.text
    for path in ("/", "/partials/hosts", "/partials/stacks", "/partials/plan", "/console"):
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.text)
        site.assert_clean(path, response.text)
        site.assert_clean(f"{path} context", repr(context_of(response).get("page")))
    # Compose printed the container's name while starting it; the task shows it masked.
    site.assert_clean("up task", repr(up))
    assert any("app-***" in item.get("text", "") for item in up), up


def test_a_compose_error_is_masked_on_the_page_and_in_the_editor(site: Site) -> None:
    client = site.client
    csrf = csrf_of(client)
    compose = site.folder / "compose.yaml"
    broken = site.compose + BROKEN_PORTS

    refused = client.post(
        f"/api/stack/{site.stack}/file/compose.yaml",
        json={"text": broken},
        headers={CSRF_HEADER: csrf},
    )

    assert refused.status_code == 400
    assert "invalid IP address '***:x'" in refused.json()["detail"], refused.text
    site.assert_clean("editor error", refused.text)
    assert compose.read_text() == site.compose

    compose.write_text(broken)  # broken on disk (edited by hand): the page says why
    page = client.get(f"/stack/{site.stack}", headers=HTML)
    assert page.status_code == 200, page.text
    error = context_of(page)["page"].error
    assert error is not None and "invalid IP address '***:x'" in error, error
    site.assert_clean("page", page.text)


def test_an_env_saved_in_the_editor_is_masked_at_once(site: Site) -> None:
    client = site.client
    csrf = csrf_of(client)
    fresh = f"brandnew{uuid.uuid4().hex[:12]}"
    compose_url = f"/api/stack/{site.stack}/file/compose.yaml"
    broken = {"text": site.compose + BROKEN_PORTS}
    before = client.post(compose_url, json=broken, headers={CSRF_HEADER: csrf})
    assert "'***:x'" in before.text, before.text  # the stack's secrets are now cached

    saved = client.post(
        f"/api/stack/{site.stack}/file/.env",
        json={"text": f"SECRET={fresh}\n"},
        headers={CSRF_HEADER: csrf},
    )
    refused = client.post(compose_url, json=broken, headers={CSRF_HEADER: csrf})

    assert saved.status_code == 200, saved.text
    assert (site.folder / ".env").read_text() == f"SECRET={fresh}\n"
    assert refused.status_code == 400
    assert fresh not in refused.text and "'***:x'" in refused.text, refused.text


def test_restart_logs_and_shell_reach_the_container_by_id_and_show_no_secret(
    site: Site,
) -> None:
    client = site.client
    farm = site.farm
    cid, _up = start(site)
    started = farm.inspect("h1", cid, STARTED_AT)
    csrf = csrf_of(client)

    items = follow_task(
        client, post_action(client, f"/api/stack/{site.stack}/container/h1/{cid}/restart", csrf)
    )
    listed = client.get("/api/tasks").json()
    with client.websocket_connect(
        f"/ws/logs/{site.stack}?host=h1&container={cid[:12]}", headers={"origin": ORIGIN}
    ) as ws:
        lines = [ws.receive_json(), ws.receive_json()]  # one `ready` per start
    with client.websocket_connect(
        f"/ws/terminal?host=h1&stack={site.stack}&container={cid}", headers={"origin": ORIGIN}
    ) as ws:
        ws.send_text(json.dumps({"type": "input", "data": 'echo "[$((6*7)) $(hostname)]"\n'}))
        shell = read_terminal(ws, r"\[42 \w+\]")

    assert items[-1]["ok"] is True, items
    assert [c.id for c in farm.containers() if c.project == site.stack] == [cid]  # in place
    assert farm.inspect("h1", cid, STARTED_AT) != started  # really restarted
    assert [t["title"] for t in listed] == [f"Up {site.stack}", "Restart app-***"]
    for what, text in {"task": repr(items), "tasks": repr(listed), "logs": repr(lines)}.items():
        site.assert_clean(what, text)
    assert [(line["host"], line["text"]) for line in lines] == [("h1", "ready ***")] * 2
    assert f"[42 {cid[:12]}]" in shell, shell  # a container's hostname is its short id


def test_a_container_id_of_nothing_the_stack_runs_is_refused(site: Site) -> None:
    client = site.client
    cid, _up = start(site)
    started = site.farm.inspect("h1", cid, STARTED_AT)
    csrf = csrf_of(client)
    cases = {
        "no such container": (site.stack, "h1", "ab" * 32),
        "right id, wrong host": (site.stack, "h2", cid),
        "not that stack's": (site.other, "h1", cid),
    }

    for case, (stack, host, target) in cases.items():
        refused = client.post(
            f"/api/stack/{stack}/container/{host}/{target}/restart", headers={CSRF_HEADER: csrf}
        )
        assert refused.status_code == 404, (case, refused.text)
        for socket in (
            f"/ws/terminal?host={host}&stack={stack}&container={target}",
            f"/ws/logs/{stack}?host={host}&container={target}",
        ):
            assert close_code(client, socket, {"origin": ORIGIN}) == 4404, (case, socket)

    assert [t["title"] for t in client.get("/api/tasks").json()] == [f"Up {site.stack}"]
    assert site.farm.inspect("h1", cid, STARTED_AT) == started  # nothing ran


def test_the_old_secret_stays_masked_after_the_env_is_edited(site: Site) -> None:
    """Saved, not applied: the container still has the old value in its name and logs."""
    client = site.client
    cid, _up = start(site)
    fresh = f"brandnew{uuid.uuid4().hex[:12]}"

    saved = client.post(
        f"/api/stack/{site.stack}/file/.env",
        json={"text": f"SECRET={fresh}\n"},
        headers={CSRF_HEADER: csrf_of(client)},
    )

    assert saved.status_code == 200, saved.text
    assert (site.folder / ".env").read_text() == f"SECRET={fresh}\n"
    backup = Path(saved.json()["backup"])
    assert backup.is_relative_to(site.state) and site.secret in backup.read_text()
    assert sorted(p.name for p in site.folder.iterdir()) == [".env", "compose.yaml"]
    [app] = [c for c in site.farm.containers() if c.project == site.stack]
    assert (app.id, app.name) == (cid, f"app-{site.secret}")  # the engine: still the old one
    page = client.get(f"/stack/{site.stack}", headers=HTML)
    status = client.get(f"/stack/{site.stack}/status")
    palette = client.get("/api/containers")
    with client.websocket_connect(
        f"/ws/logs/{site.stack}?host=h1&container={cid[:12]}", headers={"origin": ORIGIN}
    ) as ws:
        line = ws.receive_json()
    responses = {"page": page, "status": status, "palette": palette}
    for what, response in responses.items():
        assert response.status_code == 200, (what, response.text)
        site.assert_clean(what, response.text)
    [row] = context_of(page)["page"].containers
    assert (row.id, row.name) == (cid, "app-***")
    assert [c["name"] for c in palette.json() if c["stack"] == site.stack] == ["app-***"]
    assert (line["host"], line["text"]) == ("h1", "ready ***")
    # The CLI's masker (its environment only) finds the same backup.
    secrets = Secrets(load_config(site.farm.config_path), os.environ)
    assert secrets.mask(site.stack, f"{site.secret} {fresh}") == "*** ***"
