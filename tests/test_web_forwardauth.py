"""Forward auth (``web/forwardauth.py``): the user header is believed from trusted proxies only.

The pure parts are tables: which peers a network list trusts, which header values
are user names, what ``judge`` makes of a request, what the config accepts. The
rest runs the real app in process with the client address chosen per request
(Starlette's ``TestClient(client=...)``), as uvicorn would hand it over: the
peer, before ``X-Forwarded-For``. ``tests/test_forward_auth_traefik.py`` puts a
real Traefik in front of the real ``cf web``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from compose_farm.config import load_config
from compose_farm.errors import ConfigError
from compose_farm.web.app import create_app
from compose_farm.web.auth import CSRF_HEADER, SESSION_COOKIE, Auth
from compose_farm.web.forwardauth import (
    MAX_USER_BYTES,
    WS_REFUSED,
    Claim,
    ForwardAuth,
    Refusal,
    user_problem,
)
from tests.support.config import write_config as config_file
from tests.support.web import (
    ORIGIN,
    PASSWORD,
    TEST_HOSTS,
    WebServer,
    close_code,
    context_of,
    password_hash,
    write_config,
)

PROXY = "10.0.0.5"
STRANGER = "192.0.2.66"
HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}
COMPOSE = "services:\n  app:\n    image: busybox\n"


def networks(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


# --- which peers are proxies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "trusted", "expected"),
    [
        ("10.0.0.5", ["10.0.0.5/32"], True),
        ("10.0.0.6", ["10.0.0.5/32"], False),
        ("10.0.0.77", ["10.0.0.0/24"], True),
        ("10.0.1.1", ["10.0.0.0/24"], False),
        ("127.0.0.1", ["127.0.0.1/32"], True),
        ("127.0.0.2", ["127.0.0.1/32"], False),  # another loopback address is another peer
        ("::ffff:10.0.0.5", ["10.0.0.5/32"], True),  # a dual-stack socket's IPv4 peer
        ("fd00::1", ["fd00::/64"], True),
        ("fd00:0:0:1::1", ["fd00::/64"], False),
        ("fe80::1%eth0", ["fe80::/64"], True),  # zone ids do not hide an address
        ("10.0.0.5", ["fd00::/64", "10.0.0.5/32"], True),
        ("testclient", ["10.0.0.5/32"], False),  # not an address: never a proxy
        ("", ["10.0.0.5/32"], False),
        (None, ["10.0.0.5/32"], False),
    ],
)
def test_trusted_peers(peer: str | None, trusted: list[str], expected: bool) -> None:
    assert ForwardAuth(networks(*trusted)).trusts(peer) is expected


# --- which values are user names ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"alice", None),
        ("jörg".encode(), None),
        (b"alice smith", None),
        (b"alice@example.org", None),
        (b"a" * MAX_USER_BYTES, None),
        (b"", "is empty"),
        (b"   ", "is empty"),
        (b"a" * (MAX_USER_BYTES + 1), f"is longer than {MAX_USER_BYTES} bytes"),
        (b"\xffalice", "is not UTF-8"),
        (b" alice", "starts or ends with a space"),
        (b"alice, bob", "holds a comma (two values joined?)"),
        (b"ali\x00ce", "holds the character U+0000 (Cc)"),
        (b"ali\tce", "holds the character U+0009 (Cc)"),
        (b"alice\x1b[31m", "holds the character U+001B (Cc)"),
        ("ali\u202ece".encode(), "holds the character U+202E (Cf)"),  # right-to-left override
        ("ali\u200bce".encode(), "holds the character U+200B (Cf)"),  # zero width space
        ("a\u00a0b".encode(), "holds the character U+00A0 (Zs)"),
        ("a\u2028b".encode(), "holds the character U+2028 (Zl)"),
        ("a\x85b".encode(), "holds the character U+0085 (Cc)"),
    ],
)
def test_user_names(raw: bytes, problem: str | None) -> None:
    assert user_problem(raw) == problem


FORWARD = ForwardAuth(networks("10.0.0.5/32"), "Remote-User")


@pytest.mark.parametrize(
    ("peer", "headers", "verdict"),
    [
        (PROXY, [], None),
        (PROXY, [(b"x-other", b"alice")], None),
        (STRANGER, [], None),
        (PROXY, [(b"remote-user", b"alice")], Claim("alice")),
        (PROXY, [(b"Remote-User", b"alice")], Claim("alice")),  # names are case-blind
        (PROXY, [(b"remote_user", b"mallory")], None),  # another header, ignored
        (STRANGER, [(b"remote-user", b"alice")], "not a trusted proxy"),
        (STRANGER, [(b"remote-user", b"")], "not a trusted proxy"),
        (None, [(b"remote-user", b"alice")], "not a trusted proxy"),
        (PROXY, [(b"remote-user", b"alice"), (b"remote-user", b"mallory")], "sent 2 times"),
        (PROXY, [(b"remote-user", b"")], "is empty"),
        (PROXY, [(b"remote-user", b"al\rice")], "U+000D"),
    ],
)
def test_judge(
    peer: str | None, headers: list[tuple[bytes, bytes]], verdict: Claim | str | None
) -> None:
    found = FORWARD.judge(peer, headers)
    if isinstance(verdict, str):
        assert isinstance(found, Refusal), found
        assert verdict in found.reason
    else:
        assert found == verdict


# --- the config --------------------------------------------------------------------------


def web_config(folder: Path, web: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compose-farm.yaml"
    path.write_text(f"compose_dir: /opt/compose\nhosts:\n  h1: 10.0.0.1\nweb:\n{web}")
    return path


def test_the_config_reads_forward_auth(tmp_path: Path) -> None:
    web = "  forward_auth:\n    trusted_proxies: [127.0.0.1, 10.0.0.0/24, 'fd00::5']\n"
    config = load_config(web_config(tmp_path, web))
    options = config.web.forward_auth
    assert options is not None
    assert options.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/24", "fd00::5/128")
    assert options.user_header == "Remote-User"
    forward = ForwardAuth.of(options)
    assert forward.trusts("10.0.0.200") and not forward.trusts("10.0.1.1")
    assert load_config(web_config(tmp_path / "none", "  {}\n")).web.forward_auth is None


@pytest.mark.parametrize(
    ("web", "problems"),
    [
        (
            "  forward_auth: {trusted_proxies: [10.0.0.5/24]}\n",
            [
                "5: web.forward_auth.trusted_proxies.0: '10.0.0.5/24' has host bits set: "
                "write 10.0.0.0/24 for the network, or 10.0.0.5 for one address"
            ],
        ),
        (
            "  forward_auth:\n    trusted_proxies: [traefik, 0.0.0.0/0, '::/0']\n",
            [
                "6: web.forward_auth.trusted_proxies.0: 'traefik' is not an IP address or "
                "network (e.g. 10.0.0.5 or 10.0.0.0/24); names are not accepted: cf compares "
                "the address a request comes from",
                "6: web.forward_auth.trusted_proxies.1: '0.0.0.0/0' trusts every address: "
                "anyone could name any user",
                "6: web.forward_auth.trusted_proxies.2: '::/0' trusts every address: "
                "anyone could name any user",
            ],
        ),
        (
            "  forward_auth:\n    trusted_proxies: []\n",
            [
                "6: web.forward_auth.trusted_proxies: list the proxy's address (at least one); "
                "leave forward_auth out for none"
            ],
        ),
        (
            "  forward_auth:\n    user_header: Remote-User\n",
            ["5: web.forward_auth.trusted_proxies: required key is missing"],
        ),
        (
            "  forward_auth:\n    trusted_proxies: 10.0.0.5\n",
            ["6: web.forward_auth.trusted_proxies: expected a list, got '10.0.0.5'"],
        ),
        (
            "  forward_auth:\n    trusted_proxies: [10.0.0.5]\n    user_header: Remote User\n",
            [
                "7: web.forward_auth.user_header: 'Remote User' is not a header name: "
                "letters, digits and '-', at most 64 (e.g. Remote-User)"
            ],
        ),
        (
            "  forward_auth:\n    trusted_proxies: [10.0.0.5]\n    user_header: X-Forwarded-User\n",
            [
                "7: web.forward_auth.user_header: X-Forwarded-User is a header browsers or "
                "proxies send for another purpose: name the header your proxy sets for the "
                "logged-in user (e.g. Remote-User)"
            ],
        ),
        (
            "  forward_auth:\n    trusted_proxies: [10.0.0.5]\n    user_header: cookie\n",
            ["7: web.forward_auth.user_header: cookie is a header browsers or proxies send"],
        ),
        (
            "  forward_auth: {trusted_proxies: [10.0.0.5], user: alice}\n",
            ["5: web.forward_auth.user: unknown key"],
        ),
    ],
)
def test_config_mistakes_name_the_key_and_line(
    tmp_path: Path, web: str, problems: list[str]
) -> None:
    path = web_config(tmp_path, web)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(problems), lines
    for line, expected in zip(lines, problems, strict=True):
        assert line.startswith(f"{path}:{expected}"), (line, expected)


# --- the app ---------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The app with a password, trusting ``Remote-User`` from ``PROXY`` only."""
    auth = Auth(password_hash=password_hash())
    config = write_config(tmp_path, {"app": COMPOSE})
    forward = ForwardAuth(networks(f"{PROXY}/32"))
    return create_app(config, auth, allowed_hosts=TEST_HOSTS, forward_auth=forward)


class Logged:
    """The warnings ``compose_farm.web`` logged so far in the test."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __call__(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "compose_farm.web"]


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture) -> Logged:
    caplog.set_level(logging.WARNING, logger="compose_farm.web")
    return Logged(caplog)


def from_(app: FastAPI, peer: str, **kwargs: object) -> TestClient:
    """A client whose connections come from ``peer``."""
    return TestClient(app, client=(peer, 40000), **kwargs)  # type: ignore[arg-type]


def alice(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"remote-user": "alice", **(extra or {})}


def test_the_proxys_user_gets_in_without_a_cookie(app: FastAPI) -> None:
    with from_(app, PROXY) as proxy:
        page = proxy.get("/console", headers=alice(HTML))
        me = proxy.get("/api/whoami", headers=alice())
        alone = proxy.get("/console", headers=HTML, follow_redirects=False)
        api_alone = proxy.get("/api/whoami")

    assert page.status_code == 200, page.text
    assert context_of(page)["session"].user == "alice"
    assert "set-cookie" not in page.headers and not proxy.cookies
    assert me.json() == {"user": "alice", "login": "proxy"}
    # Each request on its own word: without the header, the usual login.
    assert (alone.status_code, alone.headers["location"]) == (303, "/login")
    assert api_alone.status_code == 401


def test_the_header_from_any_other_peer_is_refused_and_logged(
    app: FastAPI, refusals: Logged
) -> None:
    with from_(app, STRANGER) as stranger:
        answers = {
            path: stranger.get(path, headers={"remote-user": "admin", **HTML})
            for path in ("/", "/console", "/api/whoami", "/login", "/healthz", "/static/app.js")
        }
        posted = stranger.post("/login", data={"password": PASSWORD}, headers=alice())
        # The same browser, without the header, logs in with the password as usual.
        logged_in = stranger.post("/login", data={"password": PASSWORD}, follow_redirects=False)
        assert logged_in.status_code == 303
        with_session = stranger.get("/api/whoami", headers=alice())
        session_only = stranger.get("/api/whoami")

    for path, answer in answers.items():
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json() == {
            "detail": "the Remote-User header is accepted only from a trusted proxy"
        }
    assert posted.status_code == 403
    assert with_session.status_code == 403  # a valid session does not excuse the header
    assert session_only.json() == {"user": None, "login": "session"}
    assert len(refusals()) == len(answers) + 2, refusals()
    assert refusals()[0] == (
        f"forward auth: refused GET /: Remote-User from {STRANGER}, which is not a trusted "
        "proxy (claimed user 'admin')"
    )
    assert refusals()[-1].startswith("forward auth: refused GET /api/whoami:")


@pytest.mark.parametrize(
    ("headers", "logged"),
    [
        ([("remote-user", "")], "is empty"),
        ([("remote-user", "alice"), ("remote-user", "root")], "sent 2 times"),
        ([("remote-user", "al\u202eice")], "holds the character U+202E (Cf)"),
        ([("remote-user", "x" * (MAX_USER_BYTES + 1))], "is longer than"),
    ],
)
def test_a_malformed_user_from_the_proxy_is_refused_and_not_shown(
    app: FastAPI, refusals: Logged, headers: list[tuple[str, str]], logged: str
) -> None:
    with from_(app, PROXY) as proxy:
        answer = proxy.get("/api/whoami", headers=[(k, v.encode()) for k, v in headers])
    assert answer.status_code == 403
    assert len(refusals()) == 1 and logged in refusals()[0], refusals()
    for _, value in headers:
        if value:
            assert value not in refusals()[0]


def test_a_strangers_malformed_value_is_described_not_shown(app: FastAPI, refusals: Logged) -> None:
    with from_(app, STRANGER) as stranger:
        value = "admin\u202e\u200b"
        assert stranger.get("/", headers={"remote-user": value.encode()}).status_code == 403
    assert refusals() == [
        f"forward auth: refused GET /: Remote-User from {STRANGER}, which is not a trusted "
        f"proxy (a malformed value: 1 header(s), {len(value.encode())} bytes)"
    ]


def test_the_log_line_escapes_the_path(app: FastAPI, refusals: Logged) -> None:
    with from_(app, STRANGER) as stranger:
        assert stranger.get("/x%0aforged line%1b", headers=alice()).status_code == 403
    assert refusals()[0].startswith("forward auth: refused GET /x\\nforged line\\x1b: ")


def test_forwarded_for_cannot_make_a_peer_a_proxy(app: FastAPI, refusals: Logged) -> None:
    """127.0.0.1 is a forwarder uvicorn trusts by default: its X-Forwarded-For becomes the
    client address. Forward auth judges the peer before that."""
    with from_(app, "127.0.0.1") as local:
        forged = local.get("/api/whoami", headers=alice({"x-forwarded-for": PROXY}))
    assert forged.status_code == 403
    assert "from 127.0.0.1, which is not a trusted proxy" in refusals()[0]


def test_the_proxy_is_judged_by_its_address_not_its_clients(app: FastAPI, tmp_path: Path) -> None:
    """A proxy that is also a trusted forwarder: the client address (for the login limit)
    comes from X-Forwarded-For, the user from the proxy's header."""
    config = write_config(tmp_path / "x", {"app": COMPOSE})
    forward = ForwardAuth(networks(f"{PROXY}/32"))
    both = create_app(
        config,
        Auth(password_hash=password_hash()),
        allowed_hosts=TEST_HOSTS,
        forward_auth=forward,
        environ={"FORWARDED_ALLOW_IPS": PROXY},
    )
    with from_(both, PROXY) as proxy:
        me = proxy.get("/api/whoami", headers=alice({"x-forwarded-for": STRANGER}))
        wrong = proxy.post(
            "/login", data={"password": "nope"}, headers={"x-forwarded-for": "192.0.2.9"}
        )
    assert me.json() == {"user": "alice", "login": "proxy"}
    assert wrong.status_code == 401
    assert set(both.state.farm.auth.failures) == {"192.0.2.9"}  # the client, not the proxy


def test_csrf_and_origin_still_hold_for_the_proxys_user(app: FastAPI) -> None:
    with from_(app, PROXY) as proxy:
        csrf = context_of(proxy.get("/console", headers=alice(HTML)))["session"].csrf
        target = "/api/stack/not-configured/up"
        without = proxy.post(target, headers=alice())
        wrong = proxy.post(target, headers=alice({CSRF_HEADER: csrf[:-1] + "_"}))
        elsewhere = proxy.post(
            target, headers=alice({CSRF_HEADER: csrf, "origin": "http://evil.example"})
        )
        bob = proxy.post(target, headers={"remote-user": "bob", CSRF_HEADER: csrf})
        right = proxy.post(target, headers=alice({CSRF_HEADER: csrf, "origin": ORIGIN}))
    assert [a.status_code for a in (without, wrong, elsewhere, bob)] == [403] * 4
    assert right.status_code == 404, right.text  # past the CSRF check: no such stack
    assert not app.state.farm.tasks.tasks


def test_websockets_follow_the_same_rule(app: FastAPI, refusals: Logged) -> None:
    targets = ["/ws/tasks/0123", "/ws/logs/app?tail=1", "/ws/terminal?host=h1"]
    with from_(app, STRANGER) as stranger:
        for target in targets:
            assert close_code(stranger, target, alice({"origin": ORIGIN})) == WS_REFUSED
    assert len(refusals()) == 3 and all("refused WEBSOCKET /ws/" in r for r in refusals()), (
        refusals()
    )
    with from_(app, PROXY) as proxy:
        with proxy.websocket_connect("/ws/tasks/0123", headers=alice({"origin": ORIGIN})) as ws:
            assert ws.receive_json() == {"type": "done", "ok": False, "summary": "no such task"}
        assert close_code(proxy, "/ws/tasks/0123", alice({"origin": "http://evil.example"})) == 4401
        assert close_code(proxy, "/ws/tasks/0123", {"origin": ORIGIN}) == 4401


def test_without_forward_auth_the_header_means_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    plain = create_app(config, Auth(password_hash=password_hash()), allowed_hosts=TEST_HOSTS)
    with from_(plain, PROXY) as client:
        answer = client.get("/console", headers=alice(HTML), follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert (
            client.post("/login", data={"password": PASSWORD}, follow_redirects=False).status_code
            == 303
        )
        assert client.get("/api/whoami", headers=alice()).json() == {
            "user": None,
            "login": "session",
        }
        assert client.cookies[SESSION_COOKIE]


# --- `cf web` as a user starts it ------------------------------------------------------------


def test_cf_web_with_forward_auth_and_no_password_makes_no_start_up_link(tmp_path: Path) -> None:
    config = config_file(
        tmp_path,
        compose={"app": COMPOSE},
        hosts={"here": {"address": "127.0.0.1", "local": True}},
        web={"forward_auth": {"trusted_proxies": ["127.0.0.1", "fd00::/64"]}},
    )
    skip = ("CF_WEB_PASSWORD", "FORWARDED_ALLOW_IPS")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")  # no stored password either
    with WebServer(config, env, tmp_path / "cf-web.log", password="") as server:
        printed = server.output()
        guessed = httpx.get(f"{server.url}/login?token=anything", trust_env=False)
        me = httpx.get(f"{server.url}/api/whoami", headers=alice(), trust_env=False)
    assert "forward auth: the user named in Remote-User from 127.0.0.1/32, fd00::/64" in printed
    assert "no password set: only users the proxy names get in" in printed, printed
    assert "token=" not in printed and "/login" not in printed, printed
    assert guessed.status_code == 401
    assert me.json() == {"user": "alice", "login": "proxy"}  # 127.0.0.1 is the trusted proxy
