"""SOPS secrets on the lab (docs/secrets.md): a stack whose ``.env.sops`` holds its
password starts on h2, the value reaches the container, and no file on the host, no
command line on the host and none of cf's output holds it.

What "no file" covers: every file changed since the value was made (``-cnewer`` a
marker made first) under the host's /root (its home, where a cf cache would be),
/tmp, /run, /var/tmp and the stack's folder, except the Docker engines' own data
and exec roots: dockerd keeps a container's environment there (config.v2.json, the
OCI bundle), which the test shows too (docs/security.md says so).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from compose_farm.sops import encrypt_new
from tests.lab import Lab
from tests.support.browser import chromium
from tests.support.cf import CfRun, ok, run_cf, start_cf
from tests.support.farm import Farm
from tests.support.procs import pids_where
from tests.support.waiting import eventually

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=("h2",))]

# `up` waits for `gate` to be healthy: it is once gate/open exists in the stack folder.
COMPOSE = """\
services:
  gate:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    volumes: ["./gate:/gate"]
    healthcheck:
      test: ["CMD", "test", "-e", "/gate/open"]
      interval: 1s
      timeout: 5s
      retries: 100000
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    environment:
      DB_PASSWORD: ${{DB_PASSWORD}}
      ODD: ${{ODD}}
    depends_on:
      gate: {{condition: service_healthy}}
"""
# Quotes, $(...), backticks, a backslash and spaces: on the real channel, to the real sh.
ODD = 'it\'s "$(touch /tmp/cf-sops-pwned)" `id` \\ ok'
VENV_BIN = str(Path(sys.executable).parent)


def tool(name: str) -> str:
    path = f"{VENV_BIN}:{os.environ.get('PATH', '')}"
    import shutil

    found = shutil.which(name, path=path)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} missing: run scripts/install-deps.sh", pytrace=False)
        pytest.skip(f"{name} not installed")
    return found


def age_key(folder: Path) -> tuple[Path, str]:
    keygen = tool("age-keygen")
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "keys.txt"
    subprocess.run([keygen, "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run([keygen, "-y", str(key)], check=True, capture_output=True, text=True)
    return key, public.stdout.strip()


def cf(farm: Farm, key: Path, *args: str, editor: str | None = None) -> CfRun:
    env = {"SOPS_AGE_KEY_FILE": str(key), **({"EDITOR": editor} if editor else {})}
    return run_cf(*args, base=farm.env(), env=env, cwd=farm.folder, timeout=240)


def env_of(lab: Lab, farm: Farm, stack: str) -> dict[str, str]:
    """The environment of ``stack``'s app container, as `docker exec ... env` prints it."""
    [app] = [c for c in farm.of(stack, "h2") if c.service == "app"]
    done = lab.docker("h2", "exec", app.id, "env", check=True)
    return dict(line.partition("=")[::2] for line in done.stdout.splitlines())


def files_holding(
    lab: Lab, value: str, since: Path, paths: list[str], *, engines: bool = False
) -> list[str]:
    """Files on h2 under ``paths``, changed since ``since`` was made, that contain ``value``
    (the lab engines' data and exec roots left out unless ``engines``: see the module's
    docstring)."""
    prune: list[str] = []
    for host in lab.hosts if not engines else ():
        for root in (host.files.data_root, host.files.exec_root):
            prune += ["-path", str(root), "-prune", "-o"]
    argv = ["find", *paths, *prune, "-type", "f", "-cnewer", str(since), "-print0"]
    listed = lab.host_exec("h2", argv, check=False).stdout.split("\0")
    found = []
    for chunk in range(0, len(listed), 200):
        batch = [p for p in listed[chunk : chunk + 200] if p]
        if batch:
            grep = ["grep", "-lFa", "--", value, *batch]
            found += lab.host_exec("h2", grep, check=False).stdout.split()
    return found


def test_a_sops_stack_starts_with_its_values_and_leaves_none_on_the_host(
    farm: Farm, lab: Lab, tmp_path: Path
) -> None:
    tool("sops")
    since = tmp_path / "marker"
    since.write_text("")  # every file holding the value was changed after this one
    password = f"cf-sops-{uuid.uuid4().hex}"
    key, public = age_key(tmp_path / "age")
    stack = farm.stack("sops", "h2", COMPOSE.format(image=lab.image), files={"gate/.keep": ""})
    folder = farm.compose_dir / stack
    sops_env = {**farm.env(), "SOPS_AGE_KEY_FILE": str(key)}
    plain = f"DB_PASSWORD={password}\nODD={ODD}\n"
    encrypt_new(folder / ".env.sops", plain, public, stack, sops_env)
    assert password not in (folder / ".env.sops").read_text()

    # `up` waits on the gate: meanwhile the compose process runs on h2 with the values
    up = start_cf(
        "up", stack, base=farm.env(), env={"SOPS_AGE_KEY_FILE": str(key)}, cwd=farm.folder
    )
    with up:
        up.wait_for(r"[Ww]aiting")
        running = pids_where(lambda argv, cwd: cwd == str(folder) and b"up" in argv)
        assert running, "no compose process seen in the stack folder during `up`"
        environs = [Path(f"/proc/{pid}/environ").read_bytes() for pid in running]
        assert any(password.encode() in e for e in environs), "the values are not in its env"
        listing = lab.host_exec("h2", ["ps", "-eo", "args"]).stdout
        assert "compose up -d" in listing  # the listing was taken while `up` ran
        assert password not in listing
        assert "touch /tmp/cf-sops-pwned" not in listing
        (folder / "gate" / "open").write_text("")
        done = up.finish(timeout=240)
    ok(done)
    assert password not in done.output

    seen = env_of(lab, farm, stack)
    assert seen["DB_PASSWORD"] == password
    assert seen["ODD"] == ODD
    assert not Path("/tmp/cf-sops-pwned").exists()

    # cf shows what Compose resolved only masked
    config = ok(cf(farm, key, "compose", stack, "config"))
    assert password not in config.output
    assert "DB_PASSWORD: '***'" in config.output or "DB_PASSWORD: ***" in config.output

    scanned = ["/root", "/tmp", "/run", "/var/tmp", str(folder)]
    assert files_holding(lab, password, since, scanned) == []
    # the scan finds what is there: dockerd's own record of the container's environment
    engine = [str(lab.host("h2").files.data_root)]
    assert any(
        p.endswith("config.v2.json")
        for p in files_holding(lab, password, since, engine, engines=True)
    )

    # `cf secrets edit` with an editor that changes the value, then `up` recreates
    new = f"cf-sops-{uuid.uuid4().hex}"
    edited = ok(cf(farm, key, "secrets", "edit", stack, editor=f"sed -i s/{password}/{new}/"))
    assert password not in edited.output and new not in edited.output
    assert new not in (folder / ".env.sops").read_text()
    shown = ok(cf(farm, key, "secrets", "show", stack))
    assert shown.stdout.splitlines() == ["DB_PASSWORD=***", "ODD=***"]
    ok(cf(farm, key, "up", stack))
    assert env_of(lab, farm, stack)["DB_PASSWORD"] == new
    assert files_holding(lab, new, since, scanned) == []


def test_a_wrong_key_is_a_clear_error_and_starts_nothing(
    farm: Farm, lab: Lab, tmp_path: Path
) -> None:
    tool("sops")
    _key, public = age_key(tmp_path / "right")
    wrong, _ = age_key(tmp_path / "wrong")
    stack = farm.stack("sopsbad", "h2", COMPOSE.format(image=lab.image), files={"gate/open": ""})
    path = farm.compose_dir / stack / ".env.sops"
    encrypt_new(path, "DB_PASSWORD=x-secret-x\nODD=y\n", public, stack, farm.env())

    done = cf(farm, wrong, "up", stack)

    assert done.returncode != 0, done
    assert "Traceback" not in done.output
    assert str(path) in done.output and stack in done.output
    assert farm.of(stack, "h2") == []
    assert farm.state().get(stack) is None


def test_apply_after_up_leaves_a_sops_stack_alone_and_says_why(
    farm: Farm, lab: Lab, tmp_path: Path
) -> None:
    """The hosts' drift check runs Compose without the values: were it asked, its hash
    (made with DB_PASSWORD empty) would never equal the one `up` stamped, and every
    apply would recreate the stack."""
    tool("sops")
    key, public = age_key(tmp_path / "age")
    stack = farm.stack("sopsdrift", "h2", COMPOSE.format(image=lab.image), files={"gate/open": ""})
    encrypt_new(
        farm.compose_dir / stack / ".env.sops",
        "DB_PASSWORD=d-d-d\nODD=o\n",
        public,
        stack,
        farm.env(),
    )
    assert (up := cf(farm, key, "up", stack)).returncode == 0, up
    before = {c.service: c.id for c in farm.of(stack, "h2")}

    applied = cf(farm, key, "apply")

    assert applied.returncode == 0, applied
    assert "Recreate" not in applied.output and "Update" not in applied.output, applied.output
    assert f"{stack} on h2: its values are SOPS-encrypted" in applied.output, applied.output
    assert {c.service: c.id for c in farm.of(stack, "h2")} == before  # nothing recreated


def test_ctrl_c_stops_the_compose_command_of_a_sops_stack_on_the_host(
    farm: Farm, lab: Lab, tmp_path: Path
) -> None:
    """The values take the channel's stdin; the hang-up watcher still stops the command."""
    tool("sops")
    key, public = age_key(tmp_path / "age")
    stack = farm.stack("sopsint", "h2", COMPOSE.format(image=lab.image), files={"gate/.keep": ""})
    folder = farm.compose_dir / stack
    encrypt_new(folder / ".env.sops", "DB_PASSWORD=pw-pw-pw\nODD=x\n", public, stack, farm.env())

    def composing() -> list[int]:
        return pids_where(lambda argv, cwd: cwd == str(folder) and b"up" in argv)

    up = start_cf(
        "up", stack, base=farm.env(), env={"SOPS_AGE_KEY_FILE": str(key)}, cwd=farm.folder
    )
    with up:
        up.wait_for(r"[Ww]aiting")
        assert composing()
        up.interrupt()
        done = up.finish(timeout=240)
    assert done.returncode != 0
    assert eventually(lambda: not composing(), timeout=60), "compose still runs on h2"


@pytest.mark.browser
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("web-browser")  # one Chromium at a time, as test_web_browser.py
def test_the_secrets_panel_reveals_on_purpose_and_saves_in_a_browser(
    farm: Farm, lab: Lab, tmp_path: Path
) -> None:
    """Log in, open the stack, Reveal one value, type a new one, Save; `cf up` then runs
    the container with it. `cf web`'s log names what was revealed, never a value."""
    from tests.support.web import PASSWORD, WebServer

    tool("sops")
    key, public = age_key(tmp_path / "age")
    stack = farm.stack("sopsweb", "h2", COMPOSE.format(image=lab.image), files={"gate/open": ""})
    folder = farm.compose_dir / stack
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    plain = f"DB_PASSWORD={old}\nODD=odd-value\n"
    encrypt_new(folder / ".env.sops", plain, public, stack, farm.env())
    env = {**farm.env(), "SOPS_AGE_KEY_FILE": str(key)}
    errors: list[str] = []
    with (
        WebServer(farm.config_path, env, tmp_path / "cf-web.log") as server,
        chromium() as browser,
    ):
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        page.goto(f"{server.url}/")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        page.goto(f"{server.url}/stack/{stack}")
        field = page.locator('input.secret-value[data-name="DB_PASSWORD"]')
        field.wait_for()
        assert field.input_value() == "" and field.get_attribute("type") == "password"
        assert old not in page.content()

        page.click('button.secret-reveal[data-name="DB_PASSWORD"]')
        page.wait_for_function(
            "() => document.querySelector('input.secret-value[data-name=DB_PASSWORD]').value"
        )
        assert field.input_value() == old
        field.fill(new)
        page.click("#secrets-save")
        page.locator("#secrets-status", has_text="saved").wait_for()
        page.close()
        # cf web's output arrives through a pipe: wait for the save's line
        assert eventually(lambda: f"saved secrets of {stack}" in server.output(), timeout=60)
        log = server.output()
    assert errors == []
    assert f"revealed secrets of {stack}: DB_PASSWORD" in log
    assert f"saved secrets of {stack} (set: DB_PASSWORD" in log
    assert old not in log and new not in log
    assert new not in (folder / ".env.sops").read_text()
    ok(cf(farm, key, "up", stack))
    assert env_of(lab, farm, stack)["DB_PASSWORD"] == new


REQUIRED = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "echo said:$$DB_PASSWORD; exec sleep 86400"]
    stop_signal: SIGKILL
    environment:
      DB_PASSWORD: ${{DB_PASSWORD:?set in .env.sops}}
"""


def test_the_web_logs_of_a_sops_stack_run_compose_with_its_values_and_mask_them(
    farm: Farm, lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`${DB_PASSWORD:?}` makes Compose refuse the project without the value: the logs
    socket must send it as `up` does (over stdin), and show the line it printed masked."""
    from tests.support.web import web_client

    tool("sops")
    key, public = age_key(tmp_path / "age")
    stack = farm.stack("sopslogs", "h2", REQUIRED.format(image=lab.image))
    secret = f"logged-{uuid.uuid4().hex}"
    encrypt_new(
        farm.compose_dir / stack / ".env.sops", f"DB_PASSWORD={secret}\n", public, stack, farm.env()
    )
    assert (up := cf(farm, key, "up", stack)).returncode == 0, up
    monkeypatch.setenv("HOME", str(lab.client_home))  # the executor's key and known_hosts
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    monkeypatch.setenv("PATH", f"{VENV_BIN}:{os.environ.get('PATH', '')}")  # sops

    with (
        web_client(farm.config_path) as client,
        client.websocket_connect(
            f"/ws/logs/{stack}?tail=10", headers={"origin": "http://testserver"}
        ) as ws,
    ):
        item = ws.receive_json()

    assert item["host"] == "h2" and item["text"].endswith("said:***"), item
    assert secret not in str(item)
