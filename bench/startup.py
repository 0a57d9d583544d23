"""How long `cf --help` and `cf --version` take, next to a bare Python start."""

from __future__ import annotations

import shutil
import sys
from functools import partial

from bench.table import median_of, print_table, run_quiet

RUNS = 21


def main() -> None:
    """Print the startup table."""
    cf = shutil.which("cf") or sys.exit("cf is not on PATH: run scripts/bootstrap.sh first")
    cases = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("cf --version", [cf, "--version"]),
        ("cf --help", [cf, "--help"]),
        ("cf up --help", [cf, "up", "--help"]),
    ]
    rows = []
    for label, argv in cases:
        seconds = median_of(partial(run_quiet, argv), RUNS, warmup=2)
        rows.append((label, f"{seconds * 1000:.0f} ms"))
    print_table(f"Startup, median of {RUNS} runs", ("command", "median"), rows)


if __name__ == "__main__":
    main()
