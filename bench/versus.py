"""Start-up side by side: this tree's cf against another commit's, in one run.

For `cf ps`, a no-op `cf apply` and `cf --help`, both trees are timed in
alternation (so a machine that gets busier or quieter meanwhile weighs on both
alike), next to the lower bound of the same run: plain OpenSSH asking each host
`docker ps` in parallel. The other commit is checked out in a temporary git
worktree and run with the same interpreter and libraries (``PYTHONPATH``).

    python -m bench versus [--against REV] [--stacks 30] [--hosts 3] [--runs 21]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.lab import Lab

from bench.farm import Farm
from bench.table import print_table, time_once

REPO = Path(__file__).resolve().parent.parent


def _cf(src: Path, farm: Farm, args: Sequence[str]) -> float:
    """Seconds of one ``cf ARGS`` run from the tree at ``src`` (must succeed)."""
    env = {**farm.env, "PYTHONPATH": str(src)}
    argv = [sys.executable, "-m", "compose_farm", *args]

    def once() -> None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"cf {' '.join(args)} ({src}) failed:\n{done.stderr[-2000:]}")

    return time_once(once)


def main(argv: list[str] | None = None) -> None:
    """Print the side-by-side table."""
    parser = argparse.ArgumentParser(prog="python -m bench versus")
    parser.add_argument("--against", default="HEAD~1", help="the other commit (default HEAD~1)")
    parser.add_argument("--stacks", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    lab = Lab.load()
    with tempfile.TemporaryDirectory(prefix="cf-versus-") as tmp:
        other = Path(tmp) / "other"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(other), args.against],
            check=True,
        )
        (Path(tmp) / "farm").mkdir()
        farm = Farm(lab, args.stacks, args.hosts, Path(tmp) / "farm")
        try:
            rows = _run(farm, {"this tree": REPO / "src", args.against: other / "src"}, args.runs)
        finally:
            farm.compose_round("down")
            for name in farm.names:
                shutil.rmtree(lab.compose_dir / name, ignore_errors=True)
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)], check=False
            )
    title = (
        f"cf start-up side by side, {args.stacks} stacks on {args.hosts} lab hosts, median of "
        f"{args.runs} alternating runs (python -m bench versus --against {args.against} "
        f"--stacks {args.stacks} --hosts {args.hosts} --runs {args.runs})"
    )
    print_table(title, ("command", "tree", "median", "/ bound"), rows)


def _run(farm: Farm, trees: dict[str, Path], runs: int) -> list[tuple[str, str, str, str]]:
    farm.warm_masters()
    farm.cf("up", "--all")
    commands = {
        "ps": ["ps", "-c", str(farm.config)],
        "apply (nothing to do)": ["apply", "-c", str(farm.config)],
        "--help": ["--help"],
    }
    samples: dict[tuple[str, str], list[float]] = {}
    bound: list[float] = []
    for i in range(runs + 2):  # two untimed rounds warm the disk cache and sshd
        measured = {
            (command, tree): _cf(src, farm, words)
            for command, words in commands.items()
            for tree, src in trees.items()
        }
        ps_round = time_once(farm.ps_round)
        if i >= 2:
            bound.append(ps_round)
            for key, seconds in measured.items():
                samples.setdefault(key, []).append(seconds)
    low = statistics.median(bound)
    rows = [("plain ssh: docker ps on each host, in parallel", "", f"{low * 1000:.0f} ms", "1.00x")]
    for (command, tree), values in samples.items():
        med = statistics.median(values)
        ratio = f"{med / low:.2f}x" if command != "--help" else ""
        rows.append((f"cf {command}", tree, f"{med * 1000:.0f} ms", ratio))
    return rows


if __name__ == "__main__":
    main()
