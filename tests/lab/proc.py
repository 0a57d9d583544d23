"""Processes for the lab: run a command, start a detached daemon, wait, kill a tree.

Every daemon the lab starts (namespace holders, dockerd, sshd, the registry) is
started detached (``setsid -f``), with a clean environment, and placed in a
cgroup below ``/cflab`` before it runs, so its children (containerd, shims,
containers, SSH sessions) land there too and `down` can find and kill them all.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.lab.layout import CGROUP, SYSTEM_PATH, Layout


class LabError(Exception):
    """The lab could not be brought up, used or taken down."""


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; on failure (if ``check``) raise LabError."""
    try:
        done = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and done.returncode != 0:
        output = done.stderr.strip() or done.stdout.strip()
        raise LabError(f"exit {done.returncode}: {' '.join(argv)}\n{output}")
    return done


def daemon_env(**extra: str) -> dict[str, str]:
    """A clean environment: no proxies, no DOCKER_HOST, nothing from the test."""
    return {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8", **extra}


# The shell joins the cgroup and writes its pid, then becomes the daemon.
_LAUNCH = 'echo $$ > "$1" && { [ -z "$2" ] || echo $$ > "$2"; } && shift 2 && exec "$@"'


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    cgroup: str,
    pidfile: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Start ``argv`` detached in its own session, in cgroup ``/cflab/<cgroup>``.

    Output goes to ``log`` (appended). If ``pidfile`` is given it receives the
    daemon's pid; daemons that write their own pidfile (dockerd, sshd) pass None.
    """
    procs = cgroup_dir(cgroup) / "cgroup.procs"
    with log.open("ab") as out:
        subprocess.run(
            ["setsid", "-f", "sh", "-c", _LAUNCH, "sh", str(procs), str(pidfile or ""), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else daemon_env(),
            check=True,
        )


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true; raise LabError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not predicate():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int | None) -> bool:
    """True if ``pid`` is a live process (not a zombie)."""
    return pid is not None and process_state(pid) not in ("Z", "?")


def signal_pid(pid: int | None, sig: signal.Signals) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


# --- cgroups ---------------------------------------------------------------


def cgroup_base() -> Path:
    """The hierarchy used to track processes: v1 ``pids`` controller, else v2 root."""
    v1 = Path("/sys/fs/cgroup/pids")
    return v1 if v1.is_dir() else Path("/sys/fs/cgroup")


def cgroup_dir(name: str) -> Path:
    """``/cflab/<name>`` in the tracking hierarchy, created if missing."""
    path = cgroup_base() / CGROUP / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cgroup_roots() -> Iterator[Path]:
    """``/cflab`` in every mounted hierarchy (docker creates it in each controller)."""
    base = Path("/sys/fs/cgroup")
    if (base / CGROUP).is_dir():
        yield base / CGROUP
    for hierarchy in sorted(base.iterdir()) if base.is_dir() else []:
        if (hierarchy / CGROUP).is_dir():
            yield hierarchy / CGROUP


def cgroup_pids(root: Path | None = None) -> set[int]:
    """Every process in ``root`` (default: the whole ``/cflab`` tree) and below."""
    top = root or cgroup_base() / CGROUP
    pids: set[int] = set()
    if not top.is_dir():
        return pids
    for procs in top.rglob("cgroup.procs"):
        try:
            pids.update(int(line) for line in procs.read_text().split())
        except OSError:
            continue
    return pids


def kill_cgroup_tree(timeout: float = 10, *, below: str = "") -> None:
    """SIGKILL everything below ``/cflab`` (or ``/cflab/<below>``) until it is empty,
    then remove the cgroups."""
    deadline = time.monotonic() + timeout
    top = cgroup_base() / CGROUP / below if below else None
    while pids := cgroup_pids(top):
        if time.monotonic() > deadline:
            raise LabError(f"processes survived SIGKILL in /{CGROUP}/{below}: {sorted(pids)}")
        for pid in pids:
            signal_pid(pid, signal.SIGKILL)
        time.sleep(0.05)
    for root in list(_cgroup_roots()):
        root = root / below if below else root
        if not root.is_dir():
            continue
        for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _rmdir_quietly(path)
        _rmdir_quietly(root)


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


# --- probes and the lab lock ------------------------------------------------


def docker_ping(sock: Path, timeout: float = 2) -> bool:
    """True if the engine behind ``sock`` answers ``GET /_ping`` with OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def process_state(pid: int) -> str:
    """The state letter of ``pid`` (R, S, T for stopped, Z...), or "?" if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return "?"


@contextmanager
def lab_lock(layout: Layout) -> Iterator[None]:
    """Exclusive lock on ``<root>.lock``: one `up` or `down` at a time (xdist workers too)."""
    layout.lock_file.parent.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
