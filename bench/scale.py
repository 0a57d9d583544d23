"""cf's own cost from 30 to 1,000 stacks on 20 simulated hosts, next to plain ssh.

The simulated hosts (``python -m tests.lab up --sim-hosts 20``) have a real sshd
and a ``docker`` stand-in that keeps containers in files and takes as long as
the real engine (tests/lab/simhost/; ``--calibrate`` measures the engine).
Each stack is one service with a published port, Traefik labels and a ``.env``
of two secrets. For each farm size, in this order, every outcome checked in
the stand-ins' files (never in cf's output):

- ``cf up --all`` from nothing; bound: ``cd DIR && docker compose up -d`` per
  stack over one OpenSSH ControlMaster per host, 8 at a time per host;
- ``cf ps``; bound: cf's exact ``docker ps`` per host, fresh connections, all at once;
- ``cf apply`` with nothing to do; bound: the same ``docker ps`` round;
- the web dashboard (``GET /``) and the palette's ``GET /api/containers``, each
  with a fresh snapshot (bench/scaleweb.py); bound: the same ``docker ps`` round;
- ``cf traefik-file --all`` (no SSH: the labels of every stack);
- ``cf apply`` with ``--moves`` stacks moved to the next host; bound: ``pull`` on
  the new host, ``down`` on the old, ``up -d`` on the new, 8 stacks at a time
  (cf's limit on migrations at once), over ControlMasters.

Columns: ``sleep``, what the stand-ins sleep on the operation's critical path
(the engine's own time, were SSH and every CPU free); ``bound``, plain OpenSSH
doing the same Docker work; cf's wall time, ``cf - sleep`` (the wall time above
the stand-ins' sleep), its CPU time (user + sys of the cf process, from
``wait4``; for the web, of the server process during the request) and peak RSS.

    python -m bench scale [--stacks 30,100,300,1000] [--hosts 20] [--moves 100] [--runs 3]
                          [--only up,ps,apply,web,traefik,moves] [--profile DIR]
    python -m bench scale --calibrate [--host h3] [--runs 5] [--containers 30] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.lab import Lab, SimHost
from tests.lab.simhost.engine import LATENCY

from bench.farm import parallel, ssh_argv, timed
from bench.table import print_table
from compose_farm.facts import ps_command

PER_HOST = 8  # cf's ssh.max_channels_per_host
MIGRATIONS_AT_ONCE = 8  # cf's MIGRATION_CONCURRENCY
OPERATIONS = ("up", "ps", "apply", "web", "moves", "traefik")
# One service with a published port and Traefik labels, and a .env of two secrets
# (each stack's own: cf masks every one of them in what it shows).
COMPOSE = """\
services:
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    ports: ["{port}:80"]
    labels:
      traefik.enable: "true"
      traefik.http.routers.{name}.rule: Host(`{name}.lab`)
      traefik.http.services.{name}.loadbalancer.server.port: "80"
"""
DOTENV = "DB_PASSWORD={0}\nAPI_TOKEN=tok-{1}\n"


@dataclass(frozen=True)
class Run:
    """One cf process: wall and CPU seconds, peak RSS in KiB, what it printed."""

    wall: float
    cpu: float
    rss_kb: int
    output: str


class SimFarm:
    """``stacks`` stacks over the first ``hosts`` simulated hosts, and cf's config for them."""

    def __init__(
        self, lab: Lab, stacks: int, hosts: int, workdir: Path, profile: Path | None
    ) -> None:
        self.lab = lab
        self.sims = lab.sim_hosts[:hosts]
        self.names = [f"scale-{i:04d}" for i in range(stacks)]
        self.home = {n: self.sims[i % hosts].name for i, n in enumerate(self.names)}
        self.workdir = workdir
        self.config = workdir / "compose-farm.yaml"
        self.state = workdir / "compose-farm-state.yaml"
        self.control = workdir / "cm"
        self.control.mkdir()
        self.profile = profile
        for i, name in enumerate(self.names):
            text = COMPOSE.format(image=lab.image, port=20000 + i, name=name)
            lab.write_stack(name, text, DOTENV.format(os.urandom(8).hex(), os.urandom(6).hex()))
        self.write_config(self.home)
        self.env = {**lab.env(), "NO_COLOR": "1"}

    def write_config(self, placement: dict[str, str]) -> None:
        hosts = "".join(f"  {h.name}: {{address: {h.address}, user: root}}\n" for h in self.sims)
        stacks = "".join(f"  {n}: {h}\n" for n, h in placement.items())
        self.config.write_text(
            f"compose_dir: {self.lab.compose_dir}\nhosts:\n{hosts}stacks:\n{stacks}"
        )

    def reset(self) -> None:
        """No containers anywhere, no state file: a farm never started."""
        for sim in self.sims:
            sim.reset()
        self.state.unlink(missing_ok=True)

    def remove(self) -> None:
        self.reset()
        for name in self.names:
            shutil.rmtree(self.lab.compose_dir / name, ignore_errors=True)

    def running(self) -> dict[str, list[str]]:
        """Stack -> simulated hosts where its container runs, from the stand-ins' files."""
        found: dict[str, list[str]] = {}
        for sim in self.sims:
            for c in sim.containers():
                if c["state"] == "running":
                    found.setdefault(c["project"], []).append(sim.name)
        return found

    def expect(self, placement: dict[str, str], what: str) -> None:
        running = self.running()
        wrong = [n for n, h in placement.items() if running.get(n) != [h]]
        if wrong:
            raise RuntimeError(f"after {what}: {len(wrong)} stacks misplaced, e.g. {wrong[0]}")

    # ------------------------------------------------------------------ cf
    def cf(self, label: str, *args: str) -> Run:
        """Run cf to its end; fail the benchmark if it fails."""
        argv = [shutil.which("cf") or "cf"]
        if self.profile is not None:
            out = self.profile / f"{label}-{len(self.names)}.prof"
            argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "compose_farm"]
        with tempfile.TemporaryFile() as out_file:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [*argv, *args, "-c", str(self.config)],
                stdout=out_file,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            out_file.seek(0)
            text = out_file.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"cf {' '.join(args)} failed:\n{text[-4000:]}")
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, text)

    def web(self, runs: int) -> tuple[dict[str, dict[str, float]], int]:
        """Per page (dashboard, palette) median wall and CPU; the web process's peak RSS."""
        argv = [sys.executable, "-m", "bench.scaleweb", str(self.config), "--runs", str(runs)]
        if self.profile is not None:
            out = self.profile / f"web-{len(self.names)}.prof"
            argv[1:1] = ["-m", "cProfile", "-o", str(out)]
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"bench.scaleweb failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.splitlines()[-1])
        pages: dict[str, dict[str, float]] = result["pages"]
        rss: int = result["rss_kb"]
        return pages, rss

    # ------------------------------------------------------------------ plain ssh
    def ssh(self, host: SimHost, command: str, *, master: bool) -> list[str]:
        return ssh_argv(self.lab, host.address, command, self.control if master else None)

    def sim(self, name: str) -> SimHost:
        return self.lab.sim(name)

    def compose(self, host: str, stack: str, verb: str) -> list[str]:
        folder = shlex.quote(str(self.lab.compose_dir / stack))
        return self.ssh(self.sim(host), f"cd {folder} && docker compose {verb}", master=True)

    def up_round(self) -> None:
        """Every stack's ``up -d``: all hosts at once, ``PER_HOST`` at a time on each."""

        def host_round(host: SimHost) -> None:
            jobs = [self.compose(h, n, "up -d") for n, h in self.home.items() if h == host.name]
            parallel(jobs, PER_HOST)

        with ThreadPoolExecutor(max_workers=len(self.sims)) as pool:
            list(pool.map(host_round, self.sims))

    def ps_round(self) -> None:
        """cf's ``docker ps`` on every host, fresh connections, all at once."""
        parallel([self.ssh(h, ps_command().shell(), master=False) for h in self.sims])

    def move_round(self, moves: dict[str, tuple[str, str]]) -> None:
        """Each stack: pull on the new host, down on the old, up on the new."""

        def move(stack: str) -> None:
            old, new = moves[stack]
            for host, verb in ((new, "pull --ignore-buildable"), (old, "down"), (new, "up -d")):
                parallel([self.compose(host, stack, verb)])

        with ThreadPoolExecutor(max_workers=MIGRATIONS_AT_ONCE) as pool:
            list(pool.map(move, moves))

    def warm_masters(self) -> None:
        parallel([self.ssh(h, "true", master=True) for h in self.sims])


Row = tuple[str, str, str, str, str, str, str, str]


@dataclass(frozen=True)
class Sleeps:
    """How long the stand-ins sleep on each operation's critical path (no SSH, no CPU):
    what cf's wall time is compared with."""

    latency: dict[str, float]
    stacks: int
    hosts: int

    def per_host(self) -> int:
        return -(-self.stacks // self.hosts)

    def ps(self) -> float:
        return self.latency["ps"] + self.latency["ps_per_container"] * self.per_host()

    def up(self) -> float:
        return -(-self.per_host() // PER_HOST) * self.latency["up"]

    def moves(self, count: int) -> float:
        one = sum(self.latency[k] for k in ("pull", "down", "up"))
        return -(-count // MIGRATIONS_AT_ONCE) * one


def row(
    stacks: int,
    label: str,
    sleep: float,
    bound: float | None,
    wall: float,
    cpu: float,
    rss_kb: int,
) -> Row:
    return (
        str(stacks),
        label,
        f"{sleep:.2f} s",
        "-" if bound is None else f"{bound:.2f} s",
        f"{wall:.2f} s",
        f"{wall - sleep:+.2f} s",
        f"{cpu:.2f} s",
        f"{rss_kb / 1024:.0f} MB" if rss_kb else "",
    )


HEADERS = ("stacks", "operation", "sleep", "bound", "cf wall", "cf - sleep", "cf CPU", "peak RSS")


def measure(farm: SimFarm, sleeps: Sleeps, runs: int, moves: int, only: set[str]) -> list[Row]:
    """The rows for one farm size."""
    size = len(farm.names)
    rows: list[Row] = []
    farm.reset()
    farm.warm_masters()
    bound = timed(farm.up_round)
    farm.expect(farm.home, "the plain up round")
    if "up" in only:
        farm.reset()
        up = farm.cf("up", "up", "--all")
        farm.expect(farm.home, "cf up --all")
        rows.append(row(size, "up --all", sleeps.up(), bound, up.wall, up.cpu, up.rss_kb))
    else:
        farm.cf("setup", "apply", "--yes")  # records what runs in the state file
    ps_bound = statistics.median(timed(farm.ps_round) for _ in range(runs))
    if "ps" in only:
        ps = [farm.cf("ps", "ps") for _ in range(runs)]
        if sum(1 for n in farm.names if n in ps[0].output) != size:
            raise RuntimeError("cf ps did not list every stack")
        rows.append(median_row(size, "ps", sleeps.ps(), ps_bound, ps))
    if "apply" in only:
        noop = [farm.cf("apply", "apply", "--yes") for _ in range(runs)]
        if "Nothing to do" not in noop[0].output:
            raise RuntimeError(f"cf apply found something to do:\n{noop[0].output[-2000:]}")
        rows.append(median_row(size, "apply, nothing to do", sleeps.ps(), ps_bound, noop))
    if "web" in only:
        web, rss = farm.web(runs)
        for page, label in (("dashboard", "web GET /"), ("palette", "web /api/containers")):
            wall, cpu = web[page]["wall"], web[page]["cpu"]
            rows.append(row(size, label, sleeps.ps(), ps_bound, wall, cpu, rss))
    if "traefik" in only:
        traefik = [farm.cf("traefik", "traefik-file", "--all") for _ in range(runs)]
        if traefik[0].output.count(".lab`)") != size:
            raise RuntimeError("cf traefik-file --all did not route every stack")
        rows.append(median_row(size, "traefik-file --all", 0.0, None, traefik))
    if "moves" in only:
        count = min(moves, size)
        hosts = [h.name for h in farm.sims]
        moved = {n: hosts[(hosts.index(h) + 1) % len(hosts)] for n, h in farm.home.items()}
        moved = {n: moved[n] for n in farm.names[:count]}
        farm.write_config({**farm.home, **moved})
        apply = farm.cf("moves", "apply", "--yes")
        farm.expect({**farm.home, **moved}, "cf apply with moves")
        bound = timed(lambda: farm.move_round({n: (moved[n], farm.home[n]) for n in moved}))
        farm.expect(farm.home, "the plain move round")
        farm.write_config(farm.home)
        label = f"apply, {count} moves"
        sleep = sleeps.moves(count)
        rows.append(row(size, label, sleep, bound, apply.wall, apply.cpu, apply.rss_kb))
    return rows


def median_row(size: int, label: str, sleep: float, bound: float | None, runs: list[Run]) -> Row:
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    return row(size, label, sleep, bound, wall, cpu, max(r.rss_kb for r in runs))


def main(argv: list[str] | None = None) -> None:
    """Print the table (or, with ``--calibrate``, the real engine's figures)."""
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--stacks", default="30,100,300,1000")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(OPERATIONS))
    parser.add_argument("--profile", type=Path, default=None, help="cProfile cf into DIR")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--host", default="h3", help="--calibrate: the real host")
    parser.add_argument("--containers", type=int, default=30, help="--calibrate: for ps")
    parser.add_argument("--write", action="store_true", help="--calibrate: store the figures")
    args = parser.parse_args(argv)
    if args.calibrate:
        from bench import simcal

        simcal.main(args.host, args.runs, args.containers, args.write)
        return
    lab = Lab.load()
    if len(lab.sim_hosts) < args.hosts:
        sys.exit(f"{len(lab.sim_hosts)} simulated hosts: python -m tests.lab up --sim-hosts 20")
    only = set(args.only.split(","))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    latency = {**LATENCY, **json.loads(lab.layout.sim_latency.read_text())}
    for stacks in (int(s) for s in args.stacks.split(",")):
        with tempfile.TemporaryDirectory(prefix="cf-scale-") as tmp:
            farm = SimFarm(lab, stacks, args.hosts, Path(tmp), args.profile)
            sleeps = Sleeps(latency, stacks, args.hosts)
            try:
                rows += measure(farm, sleeps, args.runs, args.moves, only)
            finally:
                farm.remove()
        print(f"{stacks} stacks done", file=sys.stderr)
    print_table(
        f"cf on {args.hosts} simulated hosts, median of {args.runs} runs (moves and up: one) "
        f"(python -m bench scale --stacks {args.stacks} --hosts {args.hosts} "
        f"--moves {args.moves} --runs {args.runs}); stand-in latency: "
        + ", ".join(f"{k} {v}" for k, v in sorted(latency.items())),
        HEADERS,
        rows,
    )


if __name__ == "__main__":
    main()
