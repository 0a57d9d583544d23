"""`cf stats` (host health) over H lab hosts against plain parallel `ssh host cat /proc/loadavg`.

Timed, median of several runs:

- ``cf stats --json``: the whole command as a user runs it (start-up, one SSH
  connection per host, the health program with its two CPU samples half a
  second apart);
- a round over connections already held, with one CPU sample per host (the
  CPU figure from the previous round): what each refresh of ``cf stats --live``
  and of the web UI's host cards costs, in-process (``read_health``);
- the lower bounds: plain OpenSSH running ``cat /proc/loadavg`` on every host at
  once, with fresh connections (the bound of the first row, pause aside) and
  over ControlMasters (the bound of the second), and cf's health program itself
  sent the same way (what the program costs on the hosts, cf's transport aside).

    python -m bench stats [--hosts 8] [--runs 9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lab import Lab

from bench.farm import parallel, ssh_argv
from bench.table import median_of, print_table
from compose_farm.config import load_config
from compose_farm.executor import Executor, Script
from compose_farm.hoststats import DEFAULT_PAUSE, PROGRAM
from compose_farm.operations.health import read_health


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench stats")
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    lab = Lab.load()
    hosts = lab.hosts[: args.hosts]
    with tempfile.TemporaryDirectory(prefix="cf-bench-stats-") as tmp:
        work = Path(tmp)
        config = work / "compose-farm.yaml"
        lines = "".join(f"  {h.name}: {{address: {h.address}, user: root}}\n" for h in hosts)
        config.write_text(f"compose_dir: {lab.compose_dir}\nhosts:\n{lines}stacks: {{}}\n")
        control = work / "cm"
        control.mkdir()
        env = {**lab.env(), "NO_COLOR": "1"}
        cf_argv = [sys.executable, "-m", "compose_farm", "stats", "--json", "-c", str(config)]

        def cf_stats() -> None:
            done = subprocess.run(cf_argv, env=env, capture_output=True, text=True, check=False)
            report = json.loads(done.stdout) if done.stdout.strip() else {}
            if done.returncode != 0 or len(report.get("hosts", ())) != len(hosts):
                raise RuntimeError(f"cf stats: {done.returncode}\n{done.stderr[-2000:]}")

        def plain(master: bool, commands: dict[str, str] | None = None) -> None:
            where = control if master else None
            parallel(
                [
                    ssh_argv(
                        lab, h.address, (commands or {}).get(h.name, "cat /proc/loadavg"), where
                    )
                    for h in hosts
                ]
            )

        one_shot = median_of(cf_stats, args.runs)
        fresh = median_of(lambda: plain(False), args.runs)
        held = median_of(lambda: plain(True), args.runs)  # the warm-up run opens the masters
        rounds, roots = asyncio.run(_held_rounds(config, lab.client_home, args.runs))
        # the program as a round after the first sends it: one sample, the data root known
        programs = {h: Script(PROGRAM, ("0", root)).shell() for h, root in roots.items()}
        program = median_of(lambda: plain(True, programs), args.runs)
        for h in hosts:  # close the masters
            stop = ["ssh", "-F", str(lab.ssh_config), "-o", f"ControlPath={control}/%C"]
            subprocess.run(
                [*stop, "-O", "exit", f"root@{h.address}"], capture_output=True, check=False
            )
    n = len(hosts)
    rows = [
        ("cf stats --json (whole command, fresh connections)", _ms(one_shot), "1 per host"),
        ("  of which the CPU pause on the hosts (in parallel)", _ms(DEFAULT_PAUSE), ""),
        ("plain ssh: cat /proc/loadavg, fresh connections (bound)", _ms(fresh), "1 per host"),
        ("cf round over held connections (--live, web refresh)", _ms(rounds), "0"),
        ("plain ssh: cat /proc/loadavg over ControlMasters (bound)", _ms(held), "0"),
        ("plain ssh: cf's health program over ControlMasters", _ms(program), "0"),
    ]
    title = (
        f"cf stats over {n} lab hosts, median of {args.runs} "
        f"(python -m bench stats --hosts {n} --runs {args.runs})"
    )
    print_table(title, ("what", "median", "new SSH connections"), rows)


async def _held_rounds(config: Path, home: Path, runs: int) -> tuple[float, dict[str, str]]:
    """Median seconds of a ``read_health`` round after a first one (connections held), and
    each host's Docker data root."""
    cfg = load_config(config)
    hosts = list(cfg.hosts)
    async with Executor(cfg, home=home) as executor:
        first = await read_health(executor, hosts)
        if first.unreachable:
            raise RuntimeError(f"unreachable: {first.unreachable}")
        previous = dict(first.readings)
        times: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            health = await read_health(executor, hosts, previous)
            times.append(time.perf_counter() - start)
            if health.unreachable:
                raise RuntimeError(f"unreachable: {health.unreachable}")
            previous = dict(health.readings)
    roots = {h: r.engine.root_dir for h, r in previous.items() if r.engine is not None}
    return statistics.median(times), roots


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
