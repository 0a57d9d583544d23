"""A stack's data move on the lab: cf's total time and downtime, next to a plain full copy.

A stack whose container appends to its data folder (``--mb`` MiB of random files
plus the log it writes) moves h7 -> h8 -> h7 ... with ``cf apply --yes
--prune-data``; each host sees its own compose folder (tests/support/privatefarm.py),
as hosts without shared storage do.

Downtime is measured two ways, both independent of what cf says:

- engine events: the container's ``die`` on the old host's engine to the new
  container's ``start`` on the new host's (both engines run on this machine:
  one clock);
- polling: both engines' API over their unix sockets every 50 ms during the
  apply; the gap between the last poll that saw the stack running on the old
  host and the first that saw it on the new one (to within 50 ms).

The lower bound is one full copy of the same folder between the same two hosts
with plain OpenSSH, relayed through this machine as cf relays it
(``ssh A 'tar -cf - .' | ssh B 'tar -xf -'``, over warm ControlMasters so no
login is counted). The doc's claim: the downtime is about the final, incremental
copy, much less than a full copy. On the lab's own veths a full copy takes well
under a second, so each run is repeated over a link slowed with ``tc`` (default
100 Mbit/s, both ways, both hosts), where copy time is no longer negligible.

    python -m bench move [--mb 50] [--runs 3] [--links lab,100mbit]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.lab import Lab, LabHost
from tests.support.faults import hosts_lock, throttle
from tests.support.privatefarm import PrivateFarm, fill

from bench.table import print_table

HOSTS = ("h7", "h8")
POLL = 0.05
WRITER = """\
services:
  app:
    image: {image}
    command:
      - sh
      - -c
      - 'i=0; while :; do i=$$((i+1)); echo "$$(hostname) $$i" >> /data/log; sleep 0.1; done'
    init: true
    stop_grace_period: 1s
    volumes:
      - ./data:/data
"""


# --- the engines, straight over their sockets --------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=5)
        self.path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(self.path)
        self.sock = sock


def running_on(host: LabHost, project: str) -> bool:
    """True when ``host``'s engine runs a container of compose project ``project``."""
    filters = json.dumps(
        {"label": [f"com.docker.compose.project={project}"], "status": ["running"]}
    )
    connection = _UnixConnection(host.docker_socket)
    try:
        connection.request("GET", f"/containers/json?filters={quote(filters)}")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{host.name}: engine answered {response.status}: {body[:200]!r}")
    return bool(json.loads(body))


@dataclass
class Poller:
    """Polls both engines in a thread: (time, running on old, running on new) samples."""

    old: LabHost
    new: LabHost
    project: str
    samples: list[tuple[float, bool, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            on_old = running_on(self.old, self.project)
            on_new = running_on(self.new, self.project)
            self.samples.append((started, on_old, on_new))
            self._stop.wait(max(0.0, POLL - (time.time() - started)))

    def stop(self) -> None:
        self._stop.set()

    def gap(self) -> float:
        """Last sample running on the old host -> first running on the new one."""
        last_old = max((t for t, on_old, _ in self.samples if on_old), default=None)
        first_new = min((t for t, _, on_new in self.samples if on_new), default=None)
        if last_old is None or first_new is None:
            raise RuntimeError(f"the polls never saw both sides: {self.samples[:3]}...")
        return first_new - last_old


def events(lab: Lab, host: str, project: str, since: float, until: float) -> list[dict[str, str]]:
    """The engine's container events for ``project`` between two wall-clock times."""
    done = lab.docker(
        host,
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        "type=container",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--format",
        "{{json .}}",
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker events on {host}: {done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def event_time(found: list[dict[str, str]], action: str, *, last: bool = False) -> float:
    times = [int(e["timeNano"]) / 1e9 for e in found if e.get("Action") == action]
    if not times:
        raise RuntimeError(f"no {action!r} event among {[e.get('Action') for e in found]}")
    return max(times) if last else min(times)


# --- plain OpenSSH -----------------------------------------------------------------------


class PlainSsh:
    """OpenSSH with the lab client's config, over one warm ControlMaster per host."""

    def __init__(self, lab: Lab, control: Path) -> None:
        self.lab = lab
        self.control = control

    def argv(self, host: str, command: str) -> list[str]:
        return [
            "ssh",
            "-F",
            str(self.lab.ssh_config),
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={self.control}/%C",
            "-o",
            "ControlPersist=300",
            f"root@{self.lab.host(host).address}",
            command,
        ]

    def warm(self, *hosts: str) -> None:
        for host in hosts:
            subprocess.run(self.argv(host, "true"), check=True, env=self.lab.env())

    def copy(self, source: str, folder: str, target: str, into: str) -> float:
        """Seconds for ``ssh source tar -c folder | ssh target tar -x into``."""
        started = time.perf_counter()
        sender = subprocess.Popen(
            self.argv(source, f"tar -C {folder} -cf - ."),
            stdout=subprocess.PIPE,
            env=self.lab.env(),
        )
        receiver = subprocess.run(
            self.argv(target, f"mkdir -p {into} && tar -C {into} -xf -"),
            stdin=sender.stdout,
            capture_output=True,
            env=self.lab.env(),
            check=False,
        )
        if sender.stdout is not None:
            sender.stdout.close()
        sent = sender.wait()
        elapsed = time.perf_counter() - started
        if sent != 0 or receiver.returncode != 0:
            raise RuntimeError(f"plain ssh copy failed: {receiver.stderr.decode()[-2000:]}")
        return elapsed

    def close(self, *hosts: str) -> None:
        for host in hosts:
            subprocess.run(
                [*self.argv(host, "")[:-2], "-O", "exit", f"root@{self.lab.host(host).address}"],
                capture_output=True,
                env=self.lab.env(),
                check=False,
            )


# --- one move ------------------------------------------------------------------------------

# cf's own account of the two copies (its wording, so optional: "not reported" otherwise).
# cf's lines: "<folder>: sent 3 paths (52.4 MB) while it runs, host to host (4.4 s)",
# "<folder>: nothing changed after the stop, nothing to copy (0.0 s)".
REPORTED = {
    "pre": (re.compile(r"sent [^(]*\(([^)]*)\) while it runs, ([^(]*) \(([\d.]+) s\)"),),
    "final": (
        re.compile(
            r"(?:sent [^(]*\(([^)]*)\)|(nothing) changed) after the stop, ([^(]*) \(([\d.]+) s\)"
        ),
    ),
}


def reported_copies(output: str) -> dict[str, tuple[str, float]]:
    """Size (and how: host to host or relayed) and seconds of the pre-copy and of the
    final copy, as cf printed them."""
    found = {}
    for key, patterns in REPORTED.items():
        for pattern in patterns:
            if m := pattern.search(output):
                groups = [g for g in m.groups() if g is not None]
                found[key] = (f"{groups[0]} {groups[1].strip()}", float(groups[-1]))
                break
    return found


@dataclass
class Move:
    total: float
    downtime_events: float
    downtime_polled: float
    reported: dict[str, tuple[str, float]]


def move(farm: PrivateFarm, stack: str, old: str, new: str) -> Move:
    """``cf apply --yes --prune-data`` after placing ``stack`` on ``new``; measured."""
    lab = farm.lab
    farm.place(stack, new)
    poller = Poller(lab.host(old), lab.host(new), stack)
    thread = threading.Thread(target=poller.run, daemon=True)
    since = time.time()
    thread.start()
    time.sleep(3 * POLL)  # a few samples before cf starts
    done = farm.cf("apply", "--yes", "--prune-data", timeout=300)
    time.sleep(3 * POLL)
    poller.stop()
    thread.join()
    until = time.time() + 1
    if done.returncode != 0:
        raise RuntimeError(f"cf apply failed:\n{done}")
    if not running_on(lab.host(new), stack) or running_on(lab.host(old), stack):
        raise RuntimeError(f"{stack} is not running on {new} only after the move:\n{done}")
    died = event_time(events(lab, old, stack, since, until), "die", last=True)
    started = event_time(events(lab, new, stack, since, until), "start")
    return Move(done.elapsed, started - died, poller.gap(), reported_copies(done.output))


# --- the benchmark ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Print one table per link speed (needs the lab's h7 and h8; holds their lock)."""
    parser = argparse.ArgumentParser(prog="python -m bench move")
    parser.add_argument("--mb", type=float, default=50.0, help="MiB of data (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="moves per link, alternating way")
    parser.add_argument(
        "--links",
        default="lab,100mbit",
        help="comma-separated: 'lab' (the lab's veths as they are) or a tc rate such as "
        "100mbit, applied both ways on both hosts (default: lab,100mbit)",
    )
    args = parser.parse_args(argv)
    links = [link.strip() for link in args.links.split(",") if link.strip()]
    lab = Lab.load()
    if missing := set(HOSTS) - {h.name for h in lab.hosts}:
        sys.exit(f"the lab lacks {', '.join(sorted(missing))}: python -m tests.lab up --hosts 8")
    tables = []
    with hosts_lock(lab, "h7h8"), tempfile.TemporaryDirectory(prefix="cf-bench-move-") as tmp:
        farm = PrivateFarm(lab, Path(tmp), HOSTS)
        ssh = PlainSsh(lab, Path(tmp))
        try:
            stack, bare = start(farm, args.mb)
            ssh.warm(*HOSTS)
            where = HOSTS[0]
            for link in links:
                with contextlib.ExitStack() as slow:
                    if link != "lab":
                        for host in HOSTS:
                            slow.enter_context(throttle(lab, host, link))
                    copies, moves, floors, where = run(farm, ssh, (stack, bare), where, args.runs)
                tables.append((link, rows(copies, moves, floors)))
        finally:
            ssh.close(*HOSTS)
            farm.close()
    for link, table in tables:
        speed = "the lab's own link" if link == "lab" else f"a {link} link (tc, both ways)"
        print_table(
            f"Moving a stack with {args.mb:g} MiB of data h7 <-> h8 over {speed}, "
            f"{args.runs} moves (python -m bench move --mb {args.mb:g} --runs {args.runs} "
            f"--links {args.links})",
            ("measure", "median", "runs"),
            table,
        )


def start(farm: PrivateFarm, mb: float) -> tuple[str, str]:
    """The writer stack with ``mb`` MiB of data, and the same stack without ``data:``
    (the floor: a move that is only ``down`` on A and ``up`` on B), up on the first host."""
    compose = WRITER.format(image=farm.lab.image)
    stack = farm.stack("move", HOSTS[0], compose, data=["./data"])
    bare = farm.stack("bare", HOSTS[0], compose)
    fill(farm.on_host(HOSTS[0], stack, "data"), mb, files=20)
    for host in HOSTS:  # the bare stack mounts ./data too: an empty one on each host
        farm.on_host(host, bare, "data").mkdir(parents=True, exist_ok=True)
    up = farm.cf("up", stack, bare, timeout=120)
    if up.returncode != 0:
        raise RuntimeError(f"cf up failed:\n{up}")
    return stack, bare


def run(
    farm: PrivateFarm, ssh: PlainSsh, stacks: tuple[str, str], where: str, runs: int
) -> tuple[list[float], list[Move], list[Move], str]:
    """``runs`` rounds of (plain full copy, cf move, the bare stack's move), each the other
    way; where they end."""
    stack, bare = stacks
    old, new = where, next(h for h in HOSTS if h != where)
    copies, moves, floors = [], [], []
    for _ in range(runs):
        scratch = farm.host_path(stack, "plain-ssh-copy")
        copies.append(ssh.copy(old, farm.host_path(stack, "data"), new, scratch))
        shutil.rmtree(farm.on_host(new, stack, "plain-ssh-copy"))
        moves.append(move(farm, stack, old, new))
        floors.append(move(farm, bare, old, new))
        old, new = new, old
    return copies, moves, floors, old


def rows(copies: list[float], moves: list[Move], floors: list[Move]) -> list[tuple[str, str, str]]:
    def line(label: str, values: list[float]) -> tuple[str, str, str]:
        return (label, f"{statistics.median(values):.2f} s", " ".join(f"{v:.2f}" for v in values))

    full = statistics.median(copies)
    down = [m.downtime_events for m in moves]
    floor = statistics.median(m.downtime_events for m in floors)
    table = [
        line("full copy, plain OpenSSH (ssh A tar | ssh B tar)", copies),
        line("cf apply --yes --prune-data: total", [m.total for m in moves]),
    ]
    for key, label in (("pre", "pre-copy while running"), ("final", "final copy after stop")):
        values = [m.reported[key][1] for m in moves if key in m.reported]
        if len(values) == len(moves):
            sizes = ", ".join(m.reported[key][0] for m in moves)
            table.append((*line(f"  {label} (as cf reports it)", values)[:2], sizes))
        else:
            table.append((f"  {label} (as cf reports it)", "not reported", ""))
    table += [
        line("downtime: die on A -> start on B (engine events)", down),
        line(
            f"downtime: engines polled every {POLL * 1000:.0f} ms (+-{POLL * 1000:.0f} ms)",
            [m.downtime_polled for m in moves],
        ),
        line(
            "floor: the same move without data (down A, up B), engine events",
            [m.downtime_events for m in floors],
        ),
        ("downtime / full copy", f"{statistics.median(down) / full:.2f}x", ""),
        (
            "downtime added by the data (downtime - floor)",
            f"{statistics.median(down) - floor:.2f} s",
            "",
        ),
    ]
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
