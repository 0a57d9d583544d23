"""Breaking lab hosts on purpose, always putting them back, and the locks that keep such
tests apart.

Hosts h4..h6 and h7, h8 are the ones tests break (or count logins on). A test
that does holds the file lock of their group (``hosts_lock``) for its whole
run, cleanup included, and carries ``xdist_group("faults")`` so that within a
run such tests share one worker; the lock also keeps two pytest runs apart.

Each fault here is a context manager that restores the host when the block
ends, even on failure (``cut``, ``frozen_sshd``, ``stopped_sshd``,
``new_host_key``, ``throttle``); the harsher ones (``kill_sshd_and_sessions``,
``stop_dockerd``) have their repair beside them, for a finalizer to call.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.lab import Lab, LabError, LabHost
from tests.lab.proc import cgroup_dir, read_pid, run
from tests.lab.up import _start_dockerd, storage_driver
from tests.support.waiting import poll

# Lock name -> the hosts it guards. Names are file names: keep them stable.
HOST_GROUPS = {"faults": ("h4", "h5", "h6"), "h7h8": ("h7", "h8")}


@contextmanager
def hosts_lock(lab: Lab, name: str = "faults") -> Iterator[None]:
    """One test at a time on the hosts of group ``name``, across workers and pytest runs.

    The lock is an ``flock`` on a file beside the lab: taking it twice in one
    process waits forever, so take each group once (``groups_of``).
    """
    path = lab.root.with_name(f"{lab.root.name}.{name}.lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def groups_of(hosts: Sequence[str]) -> list[str]:
    """The lock groups that guard any of ``hosts``, in one fixed order (no deadlock)."""
    return [name for name, members in HOST_GROUPS.items() if set(members) & set(hosts)]


# --- faults that undo themselves -----------------------------------------------------------


@contextmanager
def cut(lab: Lab, host: str) -> Iterator[None]:
    """The host's cable unplugged for the block."""
    lab.cut(host)
    try:
        yield
    finally:
        lab.restore(host)


@contextmanager
def frozen_sshd(lab: Lab, host: str) -> Iterator[None]:
    """The host's sshd stopped with SIGSTOP for the block: TCP connects, no banner comes."""
    lab.freeze_sshd(host)
    try:
        yield
    finally:
        lab.thaw_sshd(host)


@contextmanager
def stopped_sshd(lab: Lab, host: str) -> Iterator[None]:
    """The host's sshd not running for the block: connections are refused."""
    lab.stop_sshd(host)
    try:
        yield
    finally:
        lab.start_sshd(host)


@contextmanager
def new_host_key(lab: Lab, host: str) -> Iterator[None]:
    """The host's sshd serves a freshly made host key for the block (as after a reinstall).

    The lab's sshd reads its key from ``HostFiles.host_key``: the original pair is
    saved beside it (``*.orig``), replaced, and put back (sshd restarted) after the
    block. A backup left by an earlier, killed run is restored first.
    """
    h = lab.host(host)
    key = h.files.host_key
    pub = key.with_suffix(".pub")
    saved_key, saved_pub = key.with_name(key.name + ".orig"), pub.with_name(pub.name + ".orig")
    if saved_key.exists() and saved_pub.exists():
        _restore_key(lab, h, saved_key, saved_pub)
    saved_key.write_bytes(key.read_bytes())
    saved_pub.write_bytes(pub.read_bytes())
    os.chmod(saved_key, 0o600)
    try:
        lab.stop_sshd(h)
        key.unlink()
        pub.unlink()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{h.name}-new", "-f", str(key)])
        lab.start_sshd(h)
        yield
    finally:
        _restore_key(lab, h, saved_key, saved_pub)


def _restore_key(lab: Lab, host: LabHost, saved_key: Path, saved_pub: Path) -> None:
    if not _same_lab(lab, host):
        return  # torn down (and maybe rebuilt, with new keys) meanwhile: nothing to put back
    key = host.files.host_key
    lab.stop_sshd(host)
    key.write_bytes(saved_key.read_bytes())
    os.chmod(key, 0o600)
    key.with_suffix(".pub").write_bytes(saved_pub.read_bytes())
    lab.start_sshd(host)
    saved_key.unlink()
    saved_pub.unlink()


def _same_lab(lab: Lab, host: LabHost) -> bool:
    """True while the lab that ``host`` came from is still the one running."""
    try:
        return Lab.load(lab.root).host(host.name).pid == host.pid
    except LabError:
        return False


# --- harsher faults, each with its repair ----------------------------------------------------


def kill_sshd_and_sessions(lab: Lab, host: str) -> None:
    """SIGKILL the host's sshd listener and every session process (connections die).

    Repair: ``lab.start_sshd(host)``.
    """
    h = lab.host(host)
    procs = cgroup_dir(f"{h.name}/daemons") / "cgroup.procs"
    for line in procs.read_text().split():
        pid = int(line)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "sshd":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    h.files.sshd_pidfile.unlink(missing_ok=True)


def stop_dockerd(lab: Lab, host: str) -> None:
    """Stop the host's engine (its containers stay as they are on disk). Repair:
    ``start_dockerd``."""
    h = lab.host(host)
    pid = read_pid(h.files.dockerd_pidfile)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    poll(lambda: None if Path(f"/proc/{pid}").exists() else True, what=f"dockerd on {host} to end")


def start_dockerd(lab: Lab, host: str) -> None:
    """Start the host's engine again (if it is not running) and wait until it answers."""
    h = lab.host(host)

    def answers() -> bool | None:
        return (
            True
            if lab.docker(h, "info", "--format", "{{.ID}}", timeout=5).returncode == 0
            else None
        )

    if answers():
        return
    _start_dockerd(h, storage_driver(lab.root))
    poll(answers, what=f"dockerd on {host} to come back", interval=0.2)


# --- a slow link ----------------------------------------------------------------------------


def interface_of(lab: Lab, host: LabHost | str) -> str:
    """The name, inside ``host``, of the interface that carries its lab address."""
    h = lab.host(host)
    done = lab.host_exec(h, ["ip", "-o", "-4", "addr", "show"])
    for line in done.stdout.splitlines():
        # "2: eth0    inet 10.251.0.18/24 brd ... scope global eth0"
        fields = line.split()
        if len(fields) > 3 and fields[3].split("/")[0] == h.address:
            return fields[1].split("@")[0]
    raise AssertionError(f"no interface with {h.address} on {h.name}: {done.stdout}")


def _tbf(rate: str) -> list[str]:
    # The bucket must hold one 64 KB segment: veths pass GSO packets that large, and
    # a smaller burst drops them (TCP then crawls far below ``rate``).
    return ["root", "tbf", "rate", rate, "burst", "64kb", "latency", "400ms"]


@contextmanager
def throttle(lab: Lab, host: str, rate: str = "40mbit") -> Iterator[None]:
    """``host``'s link limited to ``rate`` both ways for the block (a token bucket each way).

    Outgoing: a ``tbf`` qdisc on the host's interface inside its namespace.
    Incoming: a qdisc only shapes what leaves an interface, so the other end of
    the host's cable (in this machine's namespace, the one ``cut`` unplugs)
    gets one too. Both are removed after the block, even when it fails.
    """
    h = lab.host(host)
    inside = interface_of(lab, h)
    # A qdisc left by a killed run is replaced, not stacked.
    lab.host_exec(h, ["tc", "qdisc", "del", "dev", inside, "root"], check=False)
    run(["tc", "qdisc", "del", "dev", h.veth, "root"], check=False)
    try:
        lab.host_exec(h, ["tc", "qdisc", "add", "dev", inside, *_tbf(rate)])
        run(["tc", "qdisc", "add", "dev", h.veth, *_tbf(rate)])
        yield
    finally:
        lab.host_exec(h, ["tc", "qdisc", "del", "dev", inside, "root"], check=False)
        run(["tc", "qdisc", "del", "dev", h.veth, "root"], check=False)


def qdiscs(lab: Lab, host: str) -> str:
    """``tc qdisc show`` on both ends of ``host``'s cable (for assertions and messages)."""
    h = lab.host(host)
    inside = lab.host_exec(h, ["tc", "qdisc", "show", "dev", interface_of(lab, h)]).stdout
    outside = run(["tc", "qdisc", "show", "dev", h.veth]).stdout
    return inside + outside
