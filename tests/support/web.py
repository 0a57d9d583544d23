"""Helpers for the web UI tests: an in-process app over a farm, and `cf web` as a user runs it.

``web_client`` builds the app with ``create_app`` over a test's config and logs
in with the one-time token, inside ``with TestClient(app)`` so background
tasks and WebSockets share one running event loop. ``follow_task`` reads a
task's WebSocket to its end; ``read_terminal`` reads a terminal's output up
to a pattern. ``WebServer`` starts ``cf web`` in a subprocess on a free
127.0.0.1 port with a known password (``$CF_WEB_PASSWORD``), waits until it
answers, and stops it. ``write_config`` makes a config over the lab's
h1..h3 for tests that never reach a host; ``close_code`` and ``raw_request``
look at refusals as a browser (or an attacker's raw socket) would see them.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from compose_farm.executor import Executor
from compose_farm.web.app import create_app
from compose_farm.web.auth import CSRF_HEADER, SESSION_COOKIE, Auth, hash_password
from compose_farm.web.farm import ExecutorFactory
from compose_farm.web.farm import Farm as WebFarm
from compose_farm.web.hosts import LOOPBACK, AllowedHosts
from tests.support.cf import CfProcess, start_cf
from tests.support.config import write_config as config_file
from tests.support.waiting import WAIT, poll

PASSWORD = "correct horse battery staple"
TOKEN = "one-time-token-for-tests"
ORIGIN = "http://testserver"  # TestClient's base URL: the app's own origin
TEST_HOSTS = AllowedHosts.of(["testserver", *LOOPBACK])  # what web_app answers to
PROJECT_LABEL = "com.docker.compose.project"

_password_hash: str | None = None


def password_hash() -> str:
    """The argon2 hash of ``PASSWORD`` (hashed once per process: argon2 is slow on purpose)."""
    global _password_hash  # noqa: PLW0603 - a per-process cache of a constant
    if _password_hash is None:
        _password_hash = hash_password(PASSWORD)
    return _password_hash


def web_app(
    config_path: Path,
    environ: Mapping[str, str] | None = None,
    executor_factory: ExecutorFactory = Executor,
) -> FastAPI:
    """The app over ``config_path``, with ``PASSWORD`` and the one-time ``TOKEN``, answering
    to TestClient's ``testserver`` and the loopback names."""
    auth = Auth(password_hash=password_hash(), token=TOKEN)
    return create_app(
        config_path,
        auth,
        environ=environ,
        executor_factory=executor_factory,
        allowed_hosts=TEST_HOSTS,
    )


@contextlib.contextmanager
def web_client(
    config_path: Path,
    environ: Mapping[str, str] | None = None,
    executor_factory: ExecutorFactory = Executor,
) -> Iterator[TestClient]:
    """A logged-in TestClient (one-time token) with a live event loop for the block."""
    with TestClient(web_app(config_path, environ, executor_factory)) as client:
        login = client.get(f"/login?token={TOKEN}", follow_redirects=False)
        assert login.status_code == 303, login.text
        yield client


def farm_of(client: TestClient) -> WebFarm:
    """The parts of the app behind ``client`` (sessions, tasks, the snapshot cache)."""
    app = client.app
    assert isinstance(app, FastAPI)
    farm: WebFarm = app.state.farm
    return farm


def template_of(response: httpx.Response) -> str:
    """The template a TestClient response was rendered from (Starlette records it)."""
    template = getattr(response, "template", None)
    assert template is not None, f"{response.request.url} was not a template response"
    name: str = template.name
    return name


def context_of(response: httpx.Response) -> dict[str, Any]:
    """The context a TestClient response's template was rendered with."""
    context: dict[str, Any] | None = getattr(response, "context", None)
    assert context is not None, f"{response.request.url} was not a template response"
    return context


def csrf_of(client: TestClient) -> str:
    """The session's CSRF token, as the page gives it to the browser (console: no SSH)."""
    page = client.get("/console", headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    token: str = context_of(page)["session"].csrf
    return token


def post_action(client: TestClient, path: str, csrf: str) -> str:
    """POST an action with the CSRF token; the started task's id."""
    started = client.post(path, headers={CSRF_HEADER: csrf})
    assert started.status_code == 200, started.text
    task: str = started.json()["task"]
    return task


def follow_task(client: TestClient, task_id: str) -> list[dict[str, Any]]:
    """Every item of ``/ws/tasks/ID`` up to and including ``done``, as the page receives them."""
    items: list[dict[str, Any]] = []
    with client.websocket_connect(f"/ws/tasks/{task_id}", headers={"origin": ORIGIN}) as ws:
        while True:
            item: dict[str, Any] = ws.receive_json()
            items.append(item)
            if item["type"] == "done":
                return items


def read_terminal(ws: WebSocketTestSession, until: str) -> str:
    """What a ``/ws/terminal`` session printed, up to the first match of the regex ``until``.

    Pick ``until`` so that the terminal's echo of the typed command cannot match it
    (``echo "[$((6*7))]"`` is echoed as typed and prints ``[42]``).
    """
    seen = ""
    while re.search(until, seen) is None:
        seen += ws.receive_bytes().decode(errors="replace")
    return seen


def project_containers(lab_docker: Any, host: str, project: str) -> dict[str, str]:
    """Container name -> state of ``project`` on ``host``, from the host's engine."""
    done = lab_docker(
        host,
        "ps",
        "-a",
        "--filter",
        f"label={PROJECT_LABEL}={project}",
        "--format",
        "{{.Names}} {{.State}}",
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.strip())


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``address`` right now."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WebServer:
    """``cf web`` in a subprocess, as a user starts it; use as a context manager.

    Its output is copied to ``log`` as it comes (``output()`` reads it back).
    """

    config_path: Path
    env: Mapping[str, str]
    log: Path
    password: str = PASSWORD
    extra_args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: CfProcess | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = WAIT) -> None:
        """Start ``cf web --port PORT`` and wait until ``/healthz`` answers."""
        process = self.process = start_cf(
            *("web", "--config", str(self.config_path), "--port", str(self.port)),
            *self.extra_args,
            base=self.env,
            env={"CF_WEB_PASSWORD": self.password},
            log=self.log,
        )

        def healthy() -> bool | None:
            if not process.running():
                raise RuntimeError(f"cf web exited {process.popen.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return True
            return None

        try:
            poll(healthy, timeout=timeout, what=f"cf web to answer on {self.url}")
        except TimeoutError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n{self.output()}") from None

    def output(self) -> str:
        """What ``cf web`` printed so far."""
        return self.process.output if self.process is not None else ""

    def stop(self, grace: float = 5) -> bool:
        """Stop the server: SIGTERM, then SIGKILL after ``grace`` seconds.

        True when it exited on SIGTERM alone.
        """
        if self.process is None:
            return True
        with self.process as process:  # reaped (killed if need be) on the way out
            if not process.running():
                return True
            process.send_signal(signal.SIGTERM)
            try:
                process.popen.wait(grace)
            except subprocess.TimeoutExpired:
                return False
            return True

    def login_cookie(self) -> str:
        """A ``Cookie`` header value for a fresh password session."""
        with httpx.Client(base_url=self.url, trust_env=False) as client:
            answer = client.post("/login", data={"password": self.password})
            assert answer.status_code == 303, answer.text
            return f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def reachable(url: str) -> bool:
    """True when an HTTP GET of ``url`` gets any answer (no proxy)."""
    try:
        httpx.get(url, timeout=2, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def write_config(folder: Path, stacks: dict[str, str]) -> Path:
    """A config over ``folder/stacks`` (stack -> compose text) with the lab's h1..h3
    addresses, every stack on h1; no lab needed to read it."""
    hosts = {f"h{n}": {"address": f"10.251.0.1{n}", "user": "root"} for n in (1, 2, 3)}
    return config_file(folder, compose=stacks, hosts=hosts)


def close_code(client: TestClient, target: str, headers: dict[str, str]) -> int:
    """How the server closed the WebSocket at ``target``: before or right after accepting it.

    Anything else it sends first (a terminal's prompt, a log line) fails the test.
    """
    return close_of(client, target, headers)[0]


def close_of(client: TestClient, target: str, headers: dict[str, str]) -> tuple[int, str]:
    """The code and reason with which the server closed the WebSocket at ``target`` (as
    ``close_code``)."""
    try:
        with client.websocket_connect(target, headers=headers) as ws:
            message = ws.receive()
    except WebSocketDisconnect as exc:
        return exc.code, str(exc.reason or "")
    assert message["type"] == "websocket.close", (target, message)
    return int(message["code"]), str(message.get("reason") or "")


def raw_request(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str],
    body: str = "",
    host: str | None = None,
) -> str:
    """One HTTP/1.1 request sent byte for byte (no client-side ``..`` resolution); the answer.

    ``host``: the ``Host`` header (default ``127.0.0.1:PORT``).
    """
    host = host if host is not None else f"127.0.0.1:{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in {**headers, "Content-Length": str(len(body))}.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n" + body).encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer.decode(errors="replace")
