"""The terminal WebSocket ignores messages it does not understand and keeps sizes sane.

The parser is table-driven; the socket itself is driven with TestClient over
``tests/webfake.py``'s hosts, whose terminal echoes what it is sent: after each
bad message a good one must still come back, and only clamped sizes arrive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compose_farm.web.routes.terminal import Input, Resize, parse_message
from tests.e2e.webfarm import ORIGIN, web_client, write_config
from tests.webfake import FakeHosts

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


def test_bad_messages_leave_the_session_running_and_sizes_stay_clamped(tmp_path: Path) -> None:
    hosts = FakeHosts()
    config = write_config(tmp_path, {})
    with web_client(config, executor_factory=hosts.factory()) as client:
        target = "/ws/terminal?host=h1&cols=50000&rows=0"
        with client.websocket_connect(target, headers={"origin": ORIGIN}) as ws:
            for n, raw in enumerate(BAD):
                ws.send_text(raw)
                ws.send_bytes(b"\x00binary")
                ws.send_text(json.dumps({"type": "input", "data": f"after {n}"}))
                assert ws.receive_bytes() == f"echo:after {n}".encode(), raw
            ws.send_text('{"type": "resize", "cols": 5000, "rows": -1}')
            ws.send_text('{"type": "resize", "cols": 132, "rows": 43}')
            ws.send_text('{"type": "input", "data": "done"}')
            assert ws.receive_bytes() == b"echo:done"

    [(host, command, term)] = hosts.terminals
    assert (host, command) == ("h1", None)
    assert (term.cols, term.rows) == (1000, 1)
    assert term.sizes == [(1000, 1), (132, 43)]
    assert term.written == [f"after {n}".encode() for n in range(len(BAD))] + [b"done"]
    assert term.closed
