"""What the web UI refuses: every route without a login, forged requests, paths and names
it must not touch, and the secrets it must never show.

The UI can run commands and open shells on every host, so the route table is
enumerated from the app itself: a route added later is covered (or fails the
test) without anyone remembering to list it here.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, WebSocketRoute

from compose_farm.names import name_problem
from compose_farm.web.auth import (
    CSRF_HEADER,
    MAX_FAILURES_PER_MINUTE,
    MAX_FAILURES_PER_MINUTE_IN_ALL,
    SESSION_COOKIE,
    SESSION_TTL,
    Auth,
)
from compose_farm.web.routes.sockets import close_reason
from tests.lab import Lab
from tests.support.farm import Farm as LabFarm
from tests.support.farm import open_farm
from tests.support.web import (
    ORIGIN,
    PASSWORD,
    TOKEN,
    WebServer,
    close_code,
    close_of,
    csrf_of,
    farm_of,
    follow_task,
    post_action,
    raw_request,
    reachable,
    web_app,
    web_client,
    write_config,
)

HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}

EVIL = "http://evil.example"

# Reachable without a session, on purpose: the login itself, logging out, a liveness probe,
# and the git webhook (its signature is its login: tests/test_gitsource.py).
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/healthz"),
    ("POST", "/hooks/git"),
}
PARAMS = {
    "name": "app",
    "stack": "app",
    "action": "up",
    "file": "compose.yaml",
    "host": "h1",
    "container": "0123456789abcdef0123",
    "task_id": "0123456789abcdef",
    "kept": "compose.yaml.20261202-050000.00000000000000000001",
    "sha": "0123456789abcdef0123456789abcdef01234567",
}
WS_QUERY = {"/ws/terminal": "?host=h1", "/ws/logs/{stack}": "?tail=1"}
COMPOSE = "services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, {"app": COMPOSE})


@pytest.fixture
def app(config_path: Path) -> FastAPI:
    return web_app(config_path)


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method or "WS", path template) for every route of the app; the static mount left out."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert route.path == "/static", f"an unexpected mount: {route.path}"
            continue
        assert context.path is not None, route
        if isinstance(route, WebSocketRoute):
            found.append(("WS", context.path))
        else:
            assert context.methods, route
            found.extend((m, context.path) for m in sorted(context.methods - {"HEAD"}))
    return found


def url(path: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PARAMS, f"new path parameter {{{name}}}: add an example to PARAMS"
        return PARAMS[name]

    return re.sub(r"\{(\w+)\}", fill, path)


def private(app: FastAPI) -> list[tuple[str, str]]:
    return [r for r in routes(app) if r not in PUBLIC]


def tasks_started(client: TestClient) -> int:
    return len(farm_of(client).tasks.tasks)


# --- nothing without a login -----------------------------------------------------------


def test_the_route_table_is_what_this_file_expects(app: FastAPI) -> None:
    found = routes(app)
    assert set(found) >= PUBLIC, "a public route went away: update PUBLIC"
    assert len(private(app)) >= 18, found  # pages, partials, actions, editors, sockets
    assert {m for m, _ in found} <= {"GET", "POST", "WS"}, found


def test_every_page_and_api_route_refuses_a_request_without_a_session(app: FastAPI) -> None:
    client = TestClient(app)  # no `with`: nothing here may start background work
    checked = []
    for method, path in private(app):
        if method == "WS":
            continue
        target = url(path)
        if method == "GET":
            page = client.get(target, headers=HTML, follow_redirects=False)
            assert (page.status_code, page.headers.get("location")) == (303, "/login"), target
            api = client.get(target, headers=JSON)
            assert api.status_code == 401, (target, api.text)
            assert api.json() == {"detail": "log in first"}
        else:
            for headers in (JSON, HTML, {CSRF_HEADER: "guess", "origin": ORIGIN}):
                denied = client.post(target, json={"text": "x"}, headers=headers)
                assert denied.status_code in (401, 403), (target, headers, denied.status_code)
        checked.append((method, path))
    assert checked
    assert not app.state.farm.tasks.tasks


def test_every_websocket_is_closed_without_a_session(app: FastAPI) -> None:
    client = TestClient(app)
    sockets = [path for method, path in private(app) if method == "WS"]
    assert sorted(sockets) == ["/ws/logs/{stack}", "/ws/tasks/{task_id}", "/ws/terminal"]
    for path in sockets:
        target = url(path) + WS_QUERY.get(path, "")
        for headers in ({"origin": ORIGIN}, {}):
            assert close_code(client, target, headers) == 4401, (target, headers)


def test_a_websocket_from_another_origin_is_closed_even_with_a_session(
    config_path: Path,
) -> None:
    with web_client(config_path) as client:
        for headers in ({"origin": EVIL}, {}, {"origin": "http://testserver.evil.example"}):
            for path in ("/ws/tasks/0123", "/ws/logs/app", "/ws/terminal?host=h1"):
                assert close_code(client, path, headers) == 4401, (path, headers)


def test_static_files_and_the_login_page_need_no_session(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").text == "ok"


# --- forged requests --------------------------------------------------------------------


def test_every_post_needs_the_sessions_csrf_token_from_the_same_origin(
    config_path: Path,
) -> None:
    with web_client(config_path) as client:
        app = client.app
        assert isinstance(app, FastAPI)
        csrf = csrf_of(client)
        posts = [url(path) for method, path in private(app) if method == "POST"]
        assert "/api/stack/app/up" in posts
        for target in posts:
            for headers in (
                {},
                {CSRF_HEADER: ""},
                {CSRF_HEADER: csrf[:-1] + ("x" if csrf[-1] != "x" else "y")},
                {CSRF_HEADER: csrf, "origin": EVIL},
                {CSRF_HEADER: csrf, "origin": "http://testserver:8080"},
            ):
                denied = client.post(target, json={"text": "x"}, headers=headers)
                assert denied.status_code == 403, (target, headers, denied.text)
            form = client.post(target, data={"csrf_token": "wrong"})
            assert form.status_code == 403, target
        assert tasks_started(client) == 0
        assert (config_path.parent / "stacks" / "app" / "compose.yaml").read_text() == COMPOSE


def test_a_token_from_another_session_is_refused(app: FastAPI) -> None:
    with TestClient(app) as first, TestClient(app) as second:
        assert first.get(f"/login?token={TOKEN}", follow_redirects=False).status_code == 303
        logged = second.post("/login", data={"password": PASSWORD}, follow_redirects=False)
        assert logged.status_code == 303
        assert len(app.state.farm.auth.sessions) == 2

        denied = second.post("/api/apply", headers={CSRF_HEADER: csrf_of(first)})

        assert denied.status_code == 403
        assert tasks_started(second) == 0


# --- the editor's paths ----------------------------------------------------------------


@pytest.fixture
def editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str, Path]]:
    """A logged-in client, its CSRF token, and a file outside every stack folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the editors' backups
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside-secret\n")
    (outside / "compose.yaml").write_text("outside-compose\n")
    config = write_config(tmp_path / "farm", {"app": COMPOSE, "linkfile": COMPOSE, "linkdir": ""})
    root = config.parent / "stacks"
    (root / "linkfile" / "compose.yaml").unlink()
    (root / "linkfile" / "compose.yaml").symlink_to(outside / "compose.yaml")
    shutil.rmtree(root / "linkdir")
    (root / "linkdir").symlink_to(outside)
    with web_client(config) as client:
        yield client, csrf_of(client), outside


@pytest.mark.parametrize(
    "file",
    [
        "..%2Fx",
        "%2e%2e",
        "%2e%2e%2fcompose-farm.yaml",
        "..%2F..%2Fcompose-farm.yaml",
        "%2Fetc%2Fpasswd",
        "Dockerfile",
        "compose.override.yaml",
        ".cf-backup",
        ".env.bak",
        "compose.yaml%00",
    ],
)
def test_editor_paths_outside_the_allowed_files_are_refused(
    editor: tuple[TestClient, str, Path], file: str
) -> None:
    client, csrf, _outside = editor
    farm = farm_of(client).config_path.parent
    before = {p: p.read_bytes() for p in farm.rglob("*") if p.is_file()}

    read = client.get(f"/api/stack/app/file/{file}")
    saved = client.post(
        f"/api/stack/app/file/{file}", json={"text": "pwned: 1\n"}, headers={CSRF_HEADER: csrf}
    )

    assert read.status_code in (400, 404), (file, read.text)
    assert saved.status_code in (400, 404), (file, saved.text)
    assert "services" not in read.text and "compose_dir" not in read.text
    after = {p: p.read_bytes() for p in farm.rglob("*") if p.is_file()}
    assert after == before


def test_editor_refuses_links_that_lead_outside_the_stack_folder(
    editor: tuple[TestClient, str, Path],
) -> None:
    client, csrf, outside = editor
    for stack, file in (("linkfile", "compose.yaml"), ("linkdir", "compose.yaml")):
        read = client.get(f"/api/stack/{stack}/file/{file}")
        saved = client.post(
            f"/api/stack/{stack}/file/{file}",
            json={"text": COMPOSE},
            headers={CSRF_HEADER: csrf},
        )
        assert read.status_code == 400, (stack, read.text)
        assert "outside-compose" not in read.text
        assert saved.status_code == 400, (stack, saved.text)
        assert "outside" in saved.json()["detail"]
    saved = client.post(
        "/api/stack/linkdir/file/.env", json={"text": "A=1\n"}, headers={CSRF_HEADER: csrf}
    )
    assert saved.status_code == 400
    assert sorted(p.name for p in outside.iterdir()) == ["compose.yaml", "secret.txt"]
    assert (outside / "compose.yaml").read_text() == "outside-compose\n"


def test_a_save_through_a_stack_folder_linked_to_another_stack_is_refused(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, {"b": COMPOSE, "e": COMPOSE})
    root = config.parent / "stacks"
    (root / "b" / ".env").write_text("B_SECRET=kept\n")
    shutil.rmtree(root / "e")
    (root / "e").symlink_to("b")  # stacks/e -> stacks/b
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with web_client(config) as client:
        csrf = csrf_of(client)
        read = client.get("/api/stack/e/file/.env")
        saved = [
            client.post(
                f"/api/stack/e/file/{name}", json={"text": text}, headers={CSRF_HEADER: csrf}
            )
            for name, text in ((".env", "B_SECRET=overwritten\n"), ("compose.yaml", COMPOSE))
        ]

    assert read.status_code == 400 and "kept" not in read.text
    for answer in saved:
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"].startswith(f"{root}/e is a symlink to {root}/b:")
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_a_save_through_a_backup_folder_linked_elsewhere_is_refused(
    editor: tuple[TestClient, str, Path],
) -> None:
    client, csrf, outside = editor
    folder = farm_of(client).config_path.parent / "stacks" / "app"
    for n in range(15):  # what pruning would have taken for old backups
        (outside / f"compose.yaml.victim{n:02d}").write_text(f"victim {n}\n")
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    shelf = farm_of(client).backups.root / "app"  # where the app's backups go
    shelf.parent.mkdir(parents=True)
    shelf.symlink_to(outside)

    saved = client.post(
        "/api/stack/app/file/compose.yaml",
        json={"text": COMPOSE.replace("3600", "60")},
        headers={CSRF_HEADER: csrf},
    )

    assert saved.status_code == 400, saved.text
    assert saved.json()["detail"] == (
        f"{shelf} is a symlink: cf keeps backups only in a real folder there; "
        "move it away. Nothing was saved"
    )
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    assert (folder / "compose.yaml").read_text() == COMPOSE


# --- names in URLs ------------------------------------------------------------------------


@pytest.fixture
def lab_farm(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabFarm]:
    monkeypatch.setenv("HOME", str(lab.client_home))
    with open_farm(lab, tmp_path / "farm", ("h1", "h2", "h3")) as f:
        yield f


def refusal(what: str, bad: str) -> str:
    """What the UI must answer for an unsafe name: which name, and ``name_problem``'s reason."""
    return f"{what} {bad!r} {name_problem(bad)}"


def test_unsafe_names_in_urls_are_refused_before_anything_runs(lab_farm: LabFarm, lab: Lab) -> None:
    ok = lab_farm.stack("ok", "h1")
    canary = f"/tmp/cf-web-canary-{uuid.uuid4().hex[:8]}"
    bad_names = [
        "a..b",
        "..",
        f"x;touch {canary}",
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"x|touch {canary}",
        f"x&&touch {canary}",
        "x;id",
        "$(id)",
        "-rf",
        ".hidden",
        "a b",
        "a\nb",
        "ab\n",
        "x'y",
    ]
    cid = "0" * 64  # a well-formed id: only the name under test is wrong
    with web_client(lab_farm.config_path) as client:
        csrf = csrf_of(client)
        for bad in bad_names:
            q = quote(bad, safe="").replace(".", "%2E")  # or the client resolves ".."
            # (URL, the name in it that is wrong): each would run something on a host.
            posts = [
                (f"/api/stack/{q}/up", "stack"),
                (f"/api/stack/{q}/down", "stack"),
                (f"/api/stack/{q}/file/compose.yaml", "stack"),
                (f"/api/stack/{q}/container/h1/{cid}/restart", "stack"),
                (f"/api/stack/{ok}/container/{q}/{cid}/restart", "host"),
            ]
            gets = [(f"/stack/{q}", "stack"), (f"/stack/{q}/status", "stack")]
            gets += [(f"/api/stack/{q}/file/.env", "stack")]
            sockets = [
                (f"/ws/logs/{q}", "stack"),
                (f"/ws/logs/{ok}?host={q}", "host"),
                (f"/ws/logs/{ok}?service={q}", "service"),
                (f"/ws/terminal?host={q}", "host"),
                (f"/ws/terminal?host=h1&stack={q}&container={cid}", "stack"),
            ]
            answers = [
                (
                    target,
                    what,
                    client.post(
                        target, json={"text": COMPOSE}, headers={**JSON, CSRF_HEADER: csrf}
                    ),
                )
                for target, what in posts
            ]
            answers += [(target, what, client.get(target, headers=JSON)) for target, what in gets]
            for target, what, done in answers:
                if "/" in bad:  # no route takes a slash: 404 (or 405) before any name check
                    assert done.status_code in (404, 405), (bad, target, done.text)
                    continue
                assert done.status_code == 400, (bad, target, done.text)
                assert done.json()["detail"] == refusal(what, bad), (bad, target)
            for target, what in sockets:
                code, reason = close_of(client, target, {"origin": ORIGIN})
                if "/" in bad and not target.startswith(("/ws/terminal", f"/ws/logs/{ok}?")):
                    assert code == 1000, (bad, target)  # no such route
                    continue
                assert code == 4400, (bad, target, code, reason)
                assert reason == close_reason(refusal(what, bad)), (bad, target, reason)
        unknown = client.post("/api/stack/not-configured/up", headers={CSRF_HEADER: csrf})
        assert unknown.status_code == 404
        assert tasks_started(client) == 0
    assert lab_farm.file_exists_anywhere(canary) == []
    assert lab_farm.on_engines() == {}
    assert sorted(p.name for p in (lab.compose_dir / ok).iterdir()) == ["compose.yaml"]


@pytest.mark.parametrize(
    "bad", ["x", "APP-APP-1", "0f0f0f0f0f0", "0f" * 33, "0f0f0f0f0f0f;id", "0f0f0f0f0f0f\n"]
)
def test_a_container_that_is_not_named_by_its_id_is_refused(config_path: Path, bad: str) -> None:
    with web_client(config_path) as client:
        csrf = csrf_of(client)
        q = quote(bad, safe="")
        restart = client.post(
            f"/api/stack/app/container/h1/{q}/restart", headers={**JSON, CSRF_HEADER: csrf}
        )
        logs = close_of(client, f"/ws/logs/app?host=h1&container={q}", {"origin": ORIGIN})
        shell = close_of(
            client, f"/ws/terminal?host=h1&stack=app&container={q}", {"origin": ORIGIN}
        )
        assert tasks_started(client) == 0

    expected = f"container id {bad!r} is not a container id: use its 12 to 64 lowercase hex digits"
    assert (restart.status_code, restart.json()["detail"]) == (400, expected)
    assert logs == shell == (4400, close_reason(expected))


# --- logging in ------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_samesite_strict(app: FastAPI) -> None:
    client = TestClient(app)
    for response in (
        client.get(f"/login?token={TOKEN}", follow_redirects=False),
        client.post("/login", data={"password": PASSWORD}, follow_redirects=False),
    ):
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}="), cookie
        attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")[1:]}
        assert "httponly" in attributes, cookie
        assert attributes["samesite"].strip().lower() == "samesite=strict", cookie
        assert attributes["path"].strip() == "Path=/", cookie


def test_the_session_cookie_is_secure_when_the_page_came_over_https(app: FastAPI) -> None:
    def attributes(client: TestClient) -> set[str]:
        response = client.post("/login", data={"password": PASSWORD}, follow_redirects=False)
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"]
        return {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}

    assert "secure" in attributes(TestClient(app, base_url="https://testserver"))
    assert "secure" not in attributes(TestClient(app))  # plain http on loopback


def test_expired_sessions_and_old_failures_are_dropped() -> None:
    now = [1000.0]
    auth = Auth(password_hash=None, clock=lambda: now[0])
    old = auth.open_session()
    assert auth.admit("10.0.0.9") is None

    now[0] += SESSION_TTL + 1
    new = auth.open_session()
    assert auth.admit("10.0.0.7") is None

    assert set(auth.sessions) == {new} and old not in auth.sessions
    assert set(auth.failures) == {"10.0.0.7"}


def test_guesses_spread_over_many_addresses_are_throttled_in_all() -> None:
    """Each address stays under its own limit; together they pass the farm-wide cap, and
    then only addresses that failed lately are refused (a fresh one, the owner, is not)."""
    now = [100.0]
    auth = Auth(password_hash=None, clock=lambda: now[0])
    addresses = [f"10.0.0.{n}" for n in range(MAX_FAILURES_PER_MINUTE_IN_ALL)]
    for address in addresses:  # one guess each: no address comes near its own limit
        assert auth.admit(address) is None
    assert auth.admit(addresses[0]) == 60  # no second guess for this minute
    assert auth.admit("10.9.9.9") is None  # a new address gets its attempt
    now[0] += 61
    assert auth.admit(addresses[0]) is None
    assert set(auth.failures) == {addresses[0]}


def test_logging_in_again_ends_the_previous_session(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.post("/login", data={"password": PASSWORD}, follow_redirects=False).is_redirect
    first = client.cookies[SESSION_COOKIE]
    assert client.post("/login", data={"password": PASSWORD}, follow_redirects=False).is_redirect

    assert client.cookies[SESSION_COOKIE] != first
    stale = TestClient(app, cookies={SESSION_COOKIE: first})
    assert stale.get("/console", headers=HTML, follow_redirects=False).status_code == 303


def test_the_one_time_token_works_once(app: FastAPI) -> None:
    first = TestClient(app)
    assert first.get(f"/login?token={TOKEN}", follow_redirects=False).status_code == 303
    assert first.get("/console", headers=HTML).status_code == 200

    second = TestClient(app)
    again = second.get(f"/login?token={TOKEN}", follow_redirects=False)
    assert again.status_code == 401
    assert "set-cookie" not in again.headers
    assert second.get("/console", headers=HTML, follow_redirects=False).status_code == 303
    assert second.get("/login?token=wrong", follow_redirects=False).status_code == 401


def test_wrong_passwords_are_refused_then_throttled(app: FastAPI) -> None:
    client = TestClient(app)
    for _ in range(2):
        wrong = client.post("/login", data={"password": "hunter2"}, follow_redirects=False)
        assert wrong.status_code == 401
        assert "Wrong password." in wrong.text
        assert "set-cookie" not in wrong.headers
    for n in range(MAX_FAILURES_PER_MINUTE - 2):  # wrong links count too (and are quicker)
        assert client.get(f"/login?token=guess-{n}").status_code == 401

    right = client.post("/login", data={"password": PASSWORD}, follow_redirects=False)

    assert right.status_code == 429
    assert "set-cookie" not in right.headers
    assert client.get("/console", headers=HTML, follow_redirects=False).status_code == 303


def test_logging_out_ends_the_session(config_path: Path) -> None:
    with web_client(config_path) as client:
        assert client.get("/console", headers=HTML).status_code == 200
        client.post("/logout", follow_redirects=False)
        assert client.get("/api/tasks").status_code == 401


def test_security_headers_on_every_kind_of_answer(config_path: Path) -> None:
    with web_client(config_path) as client:
        answers = {
            "page": client.get("/console", headers=HTML),
            "api": client.get("/api/config"),
            "static": client.get("/static/app.js"),
            "not found": client.get("/partials/nope"),
            "bad name": client.get("/stack/a..b", headers=JSON),
        }
    anonymous = TestClient(web_app(config_path))
    answers["login"] = anonymous.get("/login")
    answers["refused"] = anonymous.get("/api/tasks")
    for what, response in answers.items():
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, what
        assert "frame-ancestors 'none'" in csp, what
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
        assert response.headers.get("x-frame-options") == "DENY", what
        assert response.headers.get("x-content-type-options") == "nosniff", what
    assert answers["page"].headers["cache-control"] == "no-store"


# --- `cf web` as started by a user ----------------------------------------------------------


def test_cf_web_listens_on_loopback_only_by_default(lab: Lab, config_path: Path) -> None:
    with WebServer(config_path, lab.env(), config_path.parent / "cf-web.log") as server:
        assert reachable(f"http://127.0.0.1:{server.port}/healthz")
        assert not reachable(f"http://10.251.0.1:{server.port}/healthz")
        assert "token=" not in server.output()  # a password is set: no start-up link
        with httpx.Client(base_url=server.url, trust_env=False) as browser:
            assert browser.post("/login", data={"password": PASSWORD}).status_code == 303
            assert browser.get("/console", headers=HTML).status_code == 200


def test_dot_dot_paths_sent_as_is_to_cf_web_are_refused(lab: Lab, config_path: Path) -> None:
    with WebServer(config_path, lab.env(), config_path.parent / "cf-web.log") as server:
        with httpx.Client(base_url=server.url, trust_env=False) as browser:
            assert browser.post("/login", data={"password": PASSWORD}).status_code == 303
            page = browser.get("/console", headers=HTML).text
            cookie = f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match, page
        headers = {"Cookie": cookie, "Accept": "application/json", "Origin": server.url}
        post_headers = {**headers, CSRF_HEADER: match.group(1), "Content-Type": "application/json"}
        before = {p: p.read_bytes() for p in config_path.parent.rglob("*") if p.is_file()}
        targets = [
            "/api/stack/app/file/../../compose-farm.yaml",
            "/api/stack/app/file/..",
            "/api/stack/app/file/../app/compose.yaml",
            "/api/stack/../file/compose.yaml",
            "/api/stack/app/file/%2e%2e%2f%2e%2e%2fcompose-farm.yaml",
        ]
        for target in targets:
            read = raw_request(server.port, "GET", target, headers)
            saved = raw_request(server.port, "POST", target, post_headers, '{"text": "x: 1"}')
            for answer in (read, saved):
                status = answer.split(" ", 2)[1]
                assert status in ("400", "404", "405"), (target, answer)
                assert "compose_dir" not in answer and "services" not in answer, answer
        ok = raw_request(server.port, "GET", "/api/stack/app/file/compose.yaml", headers)
        assert ok.startswith("HTTP/1.1 200") and "services" in ok, ok  # the same session works
    after = {
        p: p.read_bytes()
        for p in config_path.parent.rglob("*")
        if p.is_file() and "cf-web.log" not in p.name
    }
    assert after == {p: b for p, b in before.items() if "cf-web.log" not in p.name}


# --- secrets ----------------------------------------------------------------------------------

SECRET = "hunter2-web-secret"
SECRET_STACK = """\
services:
  app:
    image: {image}
    container_name: {prefix}-${{SECRET_TOKEN}}
    environment:
      SECRET_TOKEN: ${{SECRET_TOKEN}}
    command: ["sh", "-c", "echo token=$$SECRET_TOKEN; echo printed; exec sleep 3600"]
    init: true
    stop_grace_period: 1s
"""


@pytest.mark.timeout(180)
def test_env_secrets_never_reach_the_browser(lab_farm: LabFarm, lab: Lab) -> None:
    stack = lab_farm.stack(
        "secret",
        "h2",
        SECRET_STACK.format(image=lab.image, prefix=lab_farm.prefix),
        env=f"SECRET_TOKEN={SECRET}\n",
    )
    with web_client(lab_farm.config_path) as client:
        csrf = csrf_of(client)
        items = follow_task(client, post_action(client, f"/api/stack/{stack}/up", csrf))
        assert items[-1]["ok"] is True, items

        engine_logs = lab.docker("h2", "logs", f"{lab_farm.prefix}-{SECRET}")
        assert f"token={SECRET}" in engine_logs.stdout  # the secret is really out there
        texts = [str(i.get("text", "")) + str(i.get("summary", "")) for i in items]
        assert not [t for t in texts if SECRET in t], texts
        assert any("***" in t for t in texts), texts  # the container's name, masked

        logs: list[dict[str, Any]] = []
        with client.websocket_connect(f"/ws/logs/{stack}", headers={"origin": ORIGIN}) as ws:
            deadline = time.monotonic() + 60
            while not any("printed" in i["text"] for i in logs):
                assert time.monotonic() < deadline, logs
                logs.append(ws.receive_json())
        assert not [i for i in logs if SECRET in i["text"]], logs
        assert [i["text"].split("| ")[-1] for i in logs if "token=" in i["text"]] == ["token=***"]

        restarted = follow_task(client, post_action(client, f"/api/stack/{stack}/restart", csrf))
        assert restarted[-1]["ok"] is True
        assert not [i for i in restarted if SECRET in str(i)], restarted
