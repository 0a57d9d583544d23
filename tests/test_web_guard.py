"""What ``web/guard.py`` refuses from the headers alone, before a route reads a body.

The app is called as an ASGI server calls it, with a ``receive`` that counts
the body bytes the app pulls: a refusal must come with none pulled, whatever
size the request declared. No lab: nothing here reaches a host.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from compose_farm.web.auth import CSRF_HEADER, SESSION_COOKIE
from compose_farm.web.guard import MAX_BODY
from tests.support.web import csrf_of, web_app, web_client, write_config

COMPOSE = "services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n"
MIB = 1024 * 1024


@dataclass
class Answer:
    """What the app sent back, and how much of the request body it read first."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pulled: int = 0


def call(app: FastAPI, path: str, headers: dict[str, str], size: int) -> Answer:
    """POST ``path`` with a body of ``size`` bytes, handed out 1 MiB at a time as the app asks.

    ``headers`` are sent as given (no ``Content-Length`` is added); once the
    app answers, the client is gone.
    """
    answer = Answer()
    left = size
    sent_all = False

    async def receive() -> Message:
        nonlocal left, sent_all
        if answer.status or sent_all:
            return {"type": "http.disconnect"}
        chunk = min(left, MIB)
        left -= chunk
        answer.pulled += chunk
        sent_all = left == 0
        return {"type": "http.request", "body": b"x" * chunk, "more_body": not sent_all}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    return answer


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return web_app(write_config(tmp_path, {"app": COMPOSE}))


def session_headers(app: FastAPI) -> dict[str, str]:
    """Headers of a logged-in browser (a live session and its CSRF token)."""
    auth = app.state.farm.auth
    sid = auth.open_session(time.time())
    return {
        "host": "testserver",
        "cookie": f"{SESSION_COOKIE}={sid}",
        CSRF_HEADER: auth.sessions[sid].csrf,
        "content-type": "application/json",
    }


@pytest.mark.parametrize("path", ["/api/config", "/api/stack/app/file/.env", "/api/apply"])
def test_a_large_body_without_a_session_is_refused_unread(app: FastAPI, path: str) -> None:
    headers = {"host": "testserver", "content-type": "application/json"}

    answer = call(app, path, {**headers, "content-length": str(100 * MIB)}, 100 * MIB)

    assert (answer.status, answer.pulled) == (401, 0), answer
    assert answer.body == b'{"detail":"log in first"}'
    assert answer.headers["x-frame-options"] == "DENY"  # refusals carry the headers too
    assert not app.state.farm.tasks.tasks


def test_a_malformed_body_without_a_session_gets_401_not_a_parse_error(app: FastAPI) -> None:
    client = TestClient(app)
    for headers in ({"content-type": "application/json"}, {"accept": "text/html"}):
        answer = client.post("/api/config", content=b"{bad", headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"detail": "log in first"})


def test_a_body_over_the_limit_is_refused_unread_even_with_a_session(app: FastAPI) -> None:
    headers = session_headers(app)
    config = app.state.farm.config_path.read_text()

    over = call(app, "/api/config", {**headers, "content-length": str(MAX_BODY + 1)}, MAX_BODY + 1)
    at = call(app, "/api/config", {**headers, "content-length": str(MAX_BODY)}, MAX_BODY)

    assert (over.status, over.pulled) == (413, 0), over
    assert b"at most 2097152 bytes" in over.body
    assert (at.status, at.pulled) == (422, MAX_BODY)  # read, and refused as a bad body
    assert app.state.farm.config_path.read_text() == config


def test_a_body_without_a_content_length_is_refused_unread(app: FastAPI) -> None:
    headers = {**session_headers(app), "transfer-encoding": "chunked"}

    answer = call(app, "/api/config", headers, 10 * MIB)

    assert (answer.status, answer.pulled) == (411, 0), answer
    assert b"Content-Length" in answer.body


def test_the_login_form_is_limited_too(app: FastAPI) -> None:
    headers = {"host": "testserver", "content-type": "application/x-www-form-urlencoded"}

    answer = call(app, "/login", {**headers, "content-length": str(100 * MIB)}, 100 * MIB)

    assert (answer.status, answer.pulled) == (413, 0), answer
    assert app.state.farm.auth.failures == {}


@pytest.mark.parametrize("length", ["12x", "-1", "1, 2"])
def test_a_malformed_content_length_is_refused(app: FastAPI, length: str) -> None:
    answer = call(app, "/api/config", {**session_headers(app), "content-length": length}, 0)

    assert (answer.status, answer.pulled) == (400, 0), answer


def test_ordinary_saves_still_work(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, {"app": COMPOSE})
    text = COMPOSE + "    init: true\n"
    with web_client(config_path) as client:
        saved = client.post(
            "/api/stack/app/file/compose.yaml",
            json={"text": text},
            headers={CSRF_HEADER: csrf_of(client)},
        )
    assert saved.status_code == 200, saved.text
    assert (tmp_path / "stacks" / "app" / "compose.yaml").read_text() == text
