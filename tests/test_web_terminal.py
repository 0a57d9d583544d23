"""The terminal WebSocket ignores messages it does not understand and keeps sizes sane.

The parser is table-driven (pure logic, no lab). The socket is driven with
TestClient into a real login shell on lab host h1, as the console opens it:
after each bad message the shell must still run a command, and the sizes it
sees (``stty size``) are only ever the clamped ones the page asked for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from compose_farm.web.routes.terminal import Input, Resize, parse_message
from tests.lab import Lab
from tests.support.farm import open_farm
from tests.support.waiting import eventually
from tests.support.web import ORIGIN, read_terminal, web_client

BAD = [
    "[1]",
    "1",
    "null",
    '"input"',
    "not json",
    "{",
    "{}",
    '{"type": "resize", "cols": null}',
    '{"type": "resize", "cols": null, "rows": null}',
    '{"type": "resize", "cols": "80", "rows": 24}',
    '{"type": "resize", "cols": 80}',
    '{"type": "resize", "cols": 80.5, "rows": 24}',
    '{"type": "resize", "cols": true, "rows": 24}',
    '{"type": "resize", "cols": [80], "rows": 24}',
    '{"type": "input"}',
    '{"type": "input", "data": 5}',
    '{"type": "input", "data": ["ls"]}',
    '{"type": "paste", "data": "ls"}',
    '{"type": ["input"], "data": "ls"}',
]


@pytest.mark.parametrize("raw", BAD)
def test_messages_that_are_not_understood_are_none(raw: str) -> None:
    assert parse_message(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "input", "data": "ls\\n"}', Input("ls\n")),
        ('{"type": "input", "data": ""}', Input("")),
        ('{"type": "resize", "cols": 120, "rows": 40}', Resize(120, 40)),
        ('{"type": "resize", "cols": 0, "rows": -5}', Resize(1, 1)),
        ('{"type": "resize", "cols": 99999, "rows": 1000}', Resize(1000, 1000)),
        ('{"type": "resize", "cols": 1e3, "rows": 2}', None),  # a float, however round
    ],
)
def test_messages_that_are_understood(raw: str, expected: Input | Resize | None) -> None:
    assert parse_message(raw) == expected


@pytest.fixture
def client(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app over a farm of lab host h1 (no stacks: the console's host shell)."""
    monkeypatch.setenv("HOME", str(lab.client_home))  # the executor's SSH key and known_hosts
    with open_farm(lab, tmp_path / "farm", ["h1"]) as farm, web_client(farm.config_path) as c:
        yield c


def run(ws: WebSocketTestSession, command: str, until: str) -> str:
    """Type ``command`` into the shell; its output up to the first match of the regex ``until``."""
    ws.send_text(json.dumps({"type": "input", "data": command + "\n"}))
    return read_terminal(ws, until)


def stty_size(ws: WebSocketTestSession) -> str:
    """``rows cols`` as the shell's terminal has them now."""
    said = run(ws, 'echo "[size $(stty size)]"', r"\[size \d+ \d+\]")
    found = re.search(r"\[size (\d+ \d+)\]", said)
    assert found is not None, said
    size: str = found.group(1)
    return size


@pytest.mark.lab
@pytest.mark.timeout(60)
def test_bad_messages_leave_the_session_running_and_sizes_stay_clamped(
    client: TestClient, lab: Lab
) -> None:
    target = "/ws/terminal?host=h1&cols=50000&rows=0"
    with client.websocket_connect(target, headers={"origin": ORIGIN}) as ws:
        said = run(ws, 'echo "[at $(hostname) $$]"', r"\[at \w+ \d+\]")
        [(host, pid)] = re.findall(r"\[at (\w+) (\d+)\]", said)
        assert host == "h1"  # a shell on the host itself
        assert stty_size(ws) == "1 1000"  # the page's size, clamped
        for n, raw in enumerate(BAD):
            ws.send_text(raw)
            ws.send_bytes(b"\x00binary")  # typed, it would break the next command
            # The fence ends the wait even if the first command was mangled.
            said = run(ws, f'echo "[after $(({n}))]"; echo "[fence $(({n}))]"', rf"\[fence {n}\]")
            assert f"[after {n}]" in said, (raw, said)
        assert stty_size(ws) == "1 1000"  # no bad resize got through
        ws.send_text('{"type": "resize", "cols": 132, "rows": 43}')
        assert stty_size(ws) == "43 132"
        ws.send_text('{"type": "resize", "cols": 5000, "rows": -1}')
        assert stty_size(ws) == "1 1000"

    # Closing the page hangs the shell up on the host.
    # (TERM at once, KILL within 5 s: ssh/pool.py HANG_UP; left alone, it would wait forever)
    assert eventually(
        lambda: lab.host_exec("h1", ["kill", "-0", pid], check=False).returncode != 0
    ), f"the shell (pid {pid}) on h1 never ended"
