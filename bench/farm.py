"""cf against plain ssh on the lab: up, ps, apply (no-op) and down of N stacks over H hosts.

Each row is a median over several runs, next to the lower bound measured in
the same run: plain OpenSSH doing the same docker work in parallel (with a
ControlMaster for the compose rounds, fresh connections for the ps round).

    python -m bench farm [--stacks 30] [--hosts 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab import Lab

from bench.table import print_table

PER_HOST = 8
COMPOSE = """\
services:
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
"""


class Farm:
    """A bench farm of ``stacks`` stacks spread over the first ``hosts`` lab hosts."""

    def __init__(self, lab: Lab, stacks: int, hosts: int, workdir: Path) -> None:
        self.lab = lab
        self.hosts = lab.hosts[:hosts]
        self.names = [f"bench-{i:03d}" for i in range(stacks)]
        self.placement = {n: self.hosts[i % hosts].name for i, n in enumerate(self.names)}
        self.workdir = workdir
        self.config = workdir / "compose-farm.yaml"
        self.control = workdir / "cm"
        self.control.mkdir()
        for name in self.names:
            lab.write_stack(name, COMPOSE.format(image=lab.image))
        host_lines = "".join(
            f"  {h.name}: {{address: {h.address}, user: root}}\n" for h in self.hosts
        )
        stack_lines = "".join(f"  {n}: {h}\n" for n, h in self.placement.items())
        self.config.write_text(
            f"compose_dir: {lab.compose_dir}\nhosts:\n{host_lines}stacks:\n{stack_lines}"
        )
        self.env = {**lab.env(), "NO_COLOR": "1"}
        self.peak_kb = 0

    # ------------------------------------------------------------------ cf
    def cf(self, *args: str) -> None:
        """Run cf; fail the benchmark if it fails; remember its peak memory."""
        argv = [shutil.which("cf") or "cf", *args, "-c", str(self.config)]
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            self.peak_kb = max(self.peak_kb, usage.ru_maxrss)
            if proc.returncode != 0:
                out.seek(0)
                text = out.read().decode(errors="replace")[-4000:]
                raise RuntimeError(f"cf {' '.join(args)} failed:\n{text}")

    # ------------------------------------------------------------------ plain ssh
    def ssh_argv(self, host: str, command: str, *, master: bool) -> list[str]:
        control = self.control if master else None
        return ssh_argv(self.lab, self.lab.host(host).address, command, control)

    def parallel(self, jobs: list[list[str]], limit: int | None = None) -> None:
        parallel(jobs, limit)

    def compose_round(self, verb: str) -> None:
        """Every stack's compose command over per-host ControlMasters: all hosts at once,
        at most ``PER_HOST`` commands at a time on each (sshd's MaxSessions is 10)."""

        def host_round(host: str) -> None:
            jobs = [
                self.ssh_argv(
                    h, f"cd {self.lab.compose_dir}/{n} && docker compose {verb}", master=True
                )
                for n, h in self.placement.items()
                if h == host
            ]
            self.parallel(jobs, limit=PER_HOST)

        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            list(pool.map(host_round, [h.name for h in self.hosts]))

    def warm_masters(self) -> None:
        self.parallel([self.ssh_argv(h.name, "true", master=True) for h in self.hosts])

    def ps_round(self) -> None:
        """One `docker ps` per host, fresh connections, all hosts at once."""
        self.parallel([self.ssh_argv(h.name, "docker ps -q", master=False) for h in self.hosts])

    def running(self) -> int:
        total = 0
        for h in self.hosts:
            out = self.lab.docker(
                h.name, "ps", "--format", '{{.Label "com.docker.compose.project"}}'
            )
            total += sum(1 for p in out.stdout.split() if p in self.placement)
        return total


def ssh_argv(lab: Lab, address: str, command: str, control: Path | None) -> list[str]:
    """Plain OpenSSH running ``command``; with ``control``, over a ControlMaster kept there."""
    argv = ["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes"]
    if control is not None:
        argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}/%C"]
        argv += ["-o", "ControlPersist=300"]
    return [*argv, f"root@{address}", command]


def parallel(jobs: Sequence[list[str]], limit: int | None = None) -> None:
    """Run the argvs at once (at most ``limit`` at a time); fail if one fails."""
    with ThreadPoolExecutor(max_workers=limit or len(jobs) or 1) as pool:
        results = list(
            pool.map(lambda a: subprocess.run(a, capture_output=True, check=False), jobs)
        )
    bad = [r for r in results if r.returncode != 0]
    if bad:
        raise RuntimeError(f"plain ssh failed: {bad[0].stderr.decode()[-2000:]}")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench farm")
    parser.add_argument("--stacks", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    lab = Lab.load()
    if len(lab.hosts) < args.hosts:
        sys.exit(f"the lab has {len(lab.hosts)} hosts; start it with --hosts {args.hosts}")
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp:
        farm = Farm(lab, args.stacks, args.hosts, Path(tmp))
        try:
            rows = run(farm, args.runs)
        finally:
            farm.compose_round("down")
            for name in farm.names:
                shutil.rmtree(lab.compose_dir / name, ignore_errors=True)
    rows.append(("peak memory of one cf process", f"{farm.peak_kb / 1024:.0f} MB", "", ""))
    title = (
        f"cf vs plain ssh, {args.stacks} stacks on {args.hosts} lab hosts, "
        f"median of {args.runs} runs (python -m bench farm --stacks {args.stacks} "
        f"--hosts {args.hosts} --runs {args.runs})"
    )
    print_table(title, ("operation", "cf", "lower bound", "cf / bound"), rows)


def run(farm: Farm, runs: int) -> list[tuple[str, str, str, str]]:
    samples: dict[str, list[float]] = {
        k: [] for k in ("up", "up_lb", "ps", "ps_lb", "apply", "down", "down_lb")
    }
    farm.warm_masters()
    expected = len(farm.names)
    for _ in range(runs):
        farm.compose_round("down")
        samples["up_lb"].append(timed(lambda: farm.compose_round("up -d")))
        assert farm.running() == expected
        samples["down_lb"].append(timed(lambda: farm.compose_round("down")))
        assert farm.running() == 0
        samples["up"].append(timed(lambda: farm.cf("up", "--all")))
        assert farm.running() == expected
        samples["ps_lb"].append(timed(farm.ps_round))
        samples["ps"].append(timed(lambda: farm.cf("ps")))
        samples["apply"].append(timed(lambda: farm.cf("apply", "--yes")))
        samples["down"].append(timed(lambda: farm.cf("down", "--all")))
        assert farm.running() == 0
    med = {k: statistics.median(v) for k, v in samples.items()}

    def row(label: str, cf: str, bound: str) -> tuple[str, str, str, str]:
        return (label, f"{med[cf]:.2f} s", f"{med[bound]:.2f} s", f"{med[cf] / med[bound]:.2f}x")

    return [
        row(f"up --all ({expected} stacks)", "up", "up_lb"),
        row("ps (one round per host)", "ps", "ps_lb"),
        row("apply, nothing to do", "apply", "ps_lb"),
        row(f"down --all ({expected} stacks)", "down", "down_lb"),
    ]


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    main()
