"""``cf web`` as a user runs it: storing the password, and keeping it out of what the UI starts.

No lab: the farm's one host is this machine, so the console's terminal is a
local shell started by ``cf web`` itself, the very process that read
``$CF_WEB_PASSWORD``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

from websockets.sync.client import connect as ws_connect

from compose_farm.web.auth import Auth, password_file
from tests.support.cf import run_cf
from tests.support.config import write_config
from tests.support.waiting import WAIT
from tests.support.web import PASSWORD, WebServer

ANSWER = re.compile(r"pw=\[[^$\]]*\] x=\[\d+\]")


def test_set_password_stores_a_private_hash_of_it(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    stored = password_file(tmp_path)

    done = run_cf("web", "--set-password", env=env, stdin=PASSWORD + "\n")

    assert done.returncode == 0, done.stderr
    assert str(stored) in done.stdout
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    text = stored.read_text()
    assert PASSWORD not in text
    assert not any(word in text for word in PASSWORD.split())
    assert text.startswith("$argon2id$") and text.endswith("\n") and text.count("\n") == 1
    auth = Auth(password_hash=text.strip())
    assert auth.check_password(PASSWORD)
    assert not auth.check_password(PASSWORD + " ")

    again = run_cf("web", "--set-password", env=env, stdin="short\n")

    assert again.returncode != 0
    assert "at least 8 characters" in again.stderr
    assert stored.read_text() == text


def local_farm(folder: Path) -> Path:
    """A config whose only host is this machine."""
    return write_config(folder, compose={}, hosts={"here": {"address": "127.0.0.1", "local": True}})


def test_the_env_password_is_not_in_the_shells_the_ui_starts(tmp_path: Path) -> None:
    config = local_farm(tmp_path / "farm")
    env = {k: v for k, v in os.environ.items() if k != "CF_WEB_PASSWORD"}
    with WebServer(config, env, tmp_path / "cf-web.log") as server:  # sets CF_WEB_PASSWORD
        headers = {"Cookie": server.login_cookie(), "Origin": server.url}  # the hash works
        target = f"ws://127.0.0.1:{server.port}/ws/terminal?host=here&cols=200&rows=20"
        seen = ""
        with ws_connect(target, additional_headers=headers) as ws:
            line = 'echo "pw=[${CF_WEB_PASSWORD-unset}]" "x=[$(env | grep -c CF_WEB_PASSWORD)]"\n'
            ws.send(json.dumps({"type": "input", "data": line}))
            deadline = time.monotonic() + WAIT
            while not ANSWER.search(seen) and time.monotonic() < deadline:
                data = ws.recv(timeout=deadline - time.monotonic())
                seen += data.decode(errors="replace") if isinstance(data, bytes) else data

    answer = ANSWER.search(seen)  # the shell's answer, not its echo of the command
    assert answer is not None, seen
    assert answer.group(0) == "pw=[unset] x=[0]", seen
    assert PASSWORD not in seen, seen
