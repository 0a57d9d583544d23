"""The UI answers only to its own host names: DNS rebinding gets a 400 or a closed socket.

A page on ``attacker.example`` re-pointed at 127.0.0.1 makes the browser send
``Host: attacker.example:8000`` with a matching ``Origin``. Those requests are
refused before any route runs: the login, a page, a POST with a valid session
and CSRF token, and every WebSocket. ``cf web --allowed-host`` adds names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from compose_farm.web.auth import CSRF_HEADER
from compose_farm.web.hosts import WS_HOST_REFUSED, AllowedHosts, host_problem
from tests.support.cf import run_cf
from tests.support.web import (
    PASSWORD,
    WebServer,
    close_code,
    csrf_of,
    farm_of,
    raw_request,
    web_app,
    web_client,
    write_config,
)

COMPOSE = "services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n"
FOREIGN = "attacker.example:8000"
HTML = {"accept": "text/html"}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, {"app": COMPOSE})


SERVER = AllowedHosts.for_server("127.0.0.1", 8000, ["cf.example.test", "nas.lan:9000"])


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("LocalHost:8000", True),
        ("[::1]:8000", True),
        ("cf.example.test", True),  # a name without a port: any port (a proxy's, or none)
        ("cf.example.test:443", True),
        ("CF.Example.Test", True),
        ("nas.lan:9000", True),
        ("nas.lan:9001", False),  # a name with a port: that port only
        ("nas.lan", False),
        ("127.0.0.1:8001", False),
        ("localhost", False),
        ("attacker.example:8000", False),
        ("cf.example.test.attacker.example", False),
        ("attacker.example:8000@127.0.0.1:8000", False),
        ("127.0.0.1:8000/x", False),
        ("", False),
        (None, False),
    ],
)
def test_which_hosts_a_server_answers_to(host: str | None, allowed: bool) -> None:
    assert SERVER.allows(host) is allowed


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("https://cf.example.test", "cf.example.test", True),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000", True),
        ("http://localhost:8000", "127.0.0.1:8000", False),  # another origin
        (f"http://{FOREIGN}", FOREIGN, False),  # equal, but not allowed
        ("http://127.0.0.1:8000/evil", "127.0.0.1:8000", False),
        ("ftp://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        (None, "127.0.0.1:8000", False),
    ],
)
def test_an_origin_must_be_the_requests_own_allowed_host(
    origin: str | None, host: str, ok: bool
) -> None:
    assert SERVER.origin_ok(origin, host) is ok


def test_a_foreign_host_gets_400_for_pages_and_the_login(config_path: Path) -> None:
    app = web_app(config_path)
    client = TestClient(app, base_url=f"http://{FOREIGN}")
    rebinding = {"origin": f"http://{FOREIGN}"}

    for path in ("/login", "/", "/healthz", "/static/app.js", f"/login?token={PASSWORD}"):
        answer = client.get(path, headers=HTML, follow_redirects=False)
        assert answer.status_code == 400, (path, answer.status_code)
        assert "set-cookie" not in answer.headers
    login = client.post("/login", data={"password": PASSWORD}, headers=rebinding)

    assert login.status_code == 400
    assert "set-cookie" not in login.headers
    assert app.state.farm.auth.sessions == {}
    assert TestClient(app).get("/login").status_code == 200  # its own name still works


def test_a_session_cannot_be_used_through_a_foreign_host(config_path: Path) -> None:
    compose = config_path.parent / "stacks" / "app" / "compose.yaml"
    with web_client(config_path) as client:
        csrf = csrf_of(client)  # a real session and its token, as the rebinding page would ride
        rebinding = {"host": FOREIGN, "origin": f"http://{FOREIGN}"}

        page = client.get("/console", headers={**HTML, **rebinding})
        applied = client.post("/api/apply", headers={**rebinding, CSRF_HEADER: csrf})
        saved = client.post(
            "/api/stack/app/file/compose.yaml",
            json={"text": "services: {}\n"},
            headers={**rebinding, CSRF_HEADER: csrf},
        )
        sockets = {
            path: close_code(client, path, rebinding)
            for path in ("/ws/tasks/0123456789abcdef", "/ws/logs/app", "/ws/terminal?host=h1")
        }

        assert (page.status_code, applied.status_code, saved.status_code) == (400, 400, 400)
        assert farm_of(client).tasks.tasks == {}
        assert compose.read_text() == COMPOSE
        assert sockets == dict.fromkeys(sockets, WS_HOST_REFUSED)
        assert client.get("/console", headers=HTML).status_code == 200  # the real name works


def test_allowed_host_is_documented_in_help_and_readme() -> None:
    shown = run_cf("web", "--help")
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "--allowed-host NAME" in text and "(against DNS rebinding)" in text, text
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    web_ui = readme.split("## Web UI", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"`--allowed-host NAME`", web_ui), web_ui


def test_cf_web_answers_to_its_names_and_allowed_hosts_only(
    config_path: Path, tmp_path: Path
) -> None:
    server = WebServer(
        config_path,
        dict(os.environ),
        tmp_path / "cf-web.log",
        extra_args=("--allowed-host", "cf.example.test"),
    )
    with server:
        port = server.port

        def status(host: str, path: str = "/login") -> str:
            return raw_request(port, "GET", path, {}, host=host).split(" ", 2)[1]

        assert status(f"127.0.0.1:{port}") == "200"
        assert status(f"localhost:{port}") == "200"
        assert status("cf.example.test") == "200"
        assert status(f"cf.example.test:{port}") == "200"
        assert status(FOREIGN) == "400"
        assert status(f"attacker.example:{port}", "/healthz") == "400"
        form = f"password={PASSWORD.replace(' ', '+')}"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        login = raw_request(port, "POST", "/login", headers, form, host=FOREIGN)
        assert login.startswith("HTTP/1.1 400") and "set-cookie" not in login.lower(), login
        good = raw_request(port, "POST", "/login", headers, form, host=f"localhost:{port}")
        assert good.startswith("HTTP/1.1 303") and "set-cookie" in good.lower(), good


def test_cf_web_refuses_an_allowed_host_that_is_not_a_host_name(config_path: Path) -> None:
    done = run_cf(
        "web", "--config", str(config_path), "--allowed-host", "http://x.test/", timeout=60
    )

    assert done.returncode != 0
    assert "is not a host name" in done.stderr, done.stderr


@pytest.mark.parametrize("value", ["nas.lan", "nas.lan:9000", "[::1]:8000", "10.0.0.5"])
def test_host_names_that_can_be_allowed(value: str) -> None:
    assert host_problem(value) is None


@pytest.mark.parametrize("value", ["nas.lan\n", "http://nas.lan", "nas.lan/x", "nas lan", ""])
def test_host_names_that_cannot_be_allowed(value: str) -> None:
    assert host_problem(value) is not None


@pytest.mark.parametrize("port", [80, 443])
def test_on_a_default_port_the_bare_names_are_answered_too(port: int) -> None:
    allowed = AllowedHosts.for_server("127.0.0.1", port)
    assert allowed.allows("localhost") and allowed.allows(f"127.0.0.1:{port}")
    assert not allowed.allows("attacker.example")
    assert not AllowedHosts.for_server("127.0.0.1", 8000).allows("localhost")
