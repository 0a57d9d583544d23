"""How long the real lab engine takes for the commands the simulated hosts stand in for.

Runs inside one real lab host (its namespaces, its dockerd, no SSH): a one-service
stack's ``compose up -d`` (new container, then with it running), ``pull`` (image
present), ``stop``, ``start``, ``restart``, ``down`` (with a container, then
without), and ``docker ps`` in cf's format with 1 and with ``--containers``
containers. Prints the medians as the stand-in's latency figures (the keys of
``LATENCY`` in ``tests/lab/simhost/engine.py``); ``--write`` stores them in the lab's
``sim/latency.json``, which every simulated host reads on each command.

    python -m bench scale --calibrate [--host h3] [--runs 5] [--containers 30] [--write]
"""

from __future__ import annotations

import shlex
import shutil
import statistics
from collections import defaultdict

from tests.lab import Lab
from tests.lab.sim import write_latency

from bench.farm import COMPOSE
from bench.table import print_table
from compose_farm.facts import ps_command

PREFIX = "simcal"
# Each timed command prints "LABEL MICROSECONDS"; its own output is dropped.
SCRIPT = r"""
t() { label=$1; shift; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
      echo "$label $(( (e - s) / 1000 ))"; }
ps_cmd() { PS_COMMAND; }
cd "$1"; runs=$2; extra=$3
for i in $(seq "$runs"); do
  t up docker compose up -d
  t up_noop docker compose up -d
  t pull docker compose pull --ignore-buildable
  t ps_1 ps_cmd
  t stop docker compose stop
  t start docker compose start
  t restart docker compose restart
  t down docker compose down
  t down_noop docker compose down
done
for d in $extra; do (cd "$d" && docker compose up -d >/dev/null 2>&1); done
for i in $(seq "$runs"); do t ps_n ps_cmd; done
for d in $extra; do (cd "$d" && docker compose down >/dev/null 2>&1); done
"""


def calibrate(lab: Lab, host: str, runs: int, containers: int) -> dict[str, float]:
    """The stand-in's latency figures, measured on ``host``."""
    image = lab.image
    main = str(lab.write_stack(f"{PREFIX}-0", COMPOSE.format(image=image)))
    extra = [
        str(lab.write_stack(f"{PREFIX}-{i}", COMPOSE.format(image=image)))
        for i in range(1, containers)
    ]
    script = SCRIPT.replace("PS_COMMAND", " ".join(shlex.quote(a) for a in ps_command().argv))
    argv = ["bash", "-c", script, "calibrate", main, str(runs), " ".join(extra)]
    try:
        done = lab.host_exec(host, argv, timeout=900)
    finally:
        for folder in (main, *extra):
            shutil.rmtree(folder, ignore_errors=True)
    seen: dict[str, list[float]] = defaultdict(list)
    for line in done.stdout.splitlines():
        label, _, micros = line.partition(" ")
        seen[label].append(int(micros) / 1e6)
    med = {label: statistics.median(values) for label, values in seen.items()}
    per_container = max(0.0, (med["ps_n"] - med["ps_1"]) / max(1, containers - 1))
    figures = {k: round(med[k], 3) for k in ("up", "up_noop", "pull", "stop", "start")}
    figures |= {k: round(med[k], 3) for k in ("restart", "down", "down_noop")}
    figures["ps"] = round(max(0.0, med["ps_1"] - per_container), 4)
    figures["ps_per_container"] = round(per_container, 5)
    return figures


def main(host: str, runs: int, containers: int, write: bool) -> None:
    """Print (and with ``write``, store) the figures."""
    lab = Lab.load()
    figures = calibrate(lab, host, runs, containers)
    rows = [(key, f"{value:.4f} s") for key, value in sorted(figures.items())]
    print_table(
        f"The real engine on {host}, median of {runs} (python -m bench scale --calibrate "
        f"--host {host} --runs {runs} --containers {containers})",
        ("stand-in key", "seconds"),
        rows,
    )
    pairs = ",".join(f"{k}={v}" for k, v in sorted(figures.items()))
    print(f"\npython -m tests.lab up --sim-latency {shlex.quote(pairs)}")
    if write:
        write_latency(lab.layout, figures)
        print(f"written to {lab.layout.sim_latency}")
