"""`cf outdated` over many stacks against one `docker manifest inspect` per image.

N stacks over H lab hosts run ``images`` distinct images (pushed to the lab's
registry, stack i runs image i % images). Timed, median of several runs:

- ``cf outdated --json``: one round trip per host for what runs, then one
  registry request per distinct image, many at once;
- the lower bound of the same question asked the usual way: `docker manifest
  inspect --insecure IMAGE` once per distinct image, all in parallel, from this
  machine (it asks the registry only; it says nothing of what runs where).

    python -m bench outdated [--stacks 200] [--hosts 6] [--images 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab import Lab

from bench.farm import COMPOSE, Farm
from bench.table import median_of, print_table, run_quiet


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench outdated")
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    lab = Lab.load()
    refs = [
        lab.push_image(f"bench-outdated-{i:03d}:1", f"bench-outdated-{i}").ref
        for i in range(args.images)
    ]
    with tempfile.TemporaryDirectory(prefix="cf-bench-outdated-") as tmp:
        farm = Farm(lab, args.stacks, args.hosts, Path(tmp))
        for i, name in enumerate(farm.names):
            lab.write_stack(name, COMPOSE.format(image=refs[i % len(refs)]))
        try:
            rows = _measure(farm, refs, args.runs)
        finally:
            farm.compose_round("down")
            for name in farm.names:
                shutil.rmtree(lab.compose_dir / name, ignore_errors=True)
    title = (
        f"cf outdated: {args.stacks} stacks on {args.hosts} lab hosts, {args.images} distinct "
        f"images, median of {args.runs} (python -m bench outdated --stacks {args.stacks} "
        f"--hosts {args.hosts} --images {args.images} --runs {args.runs})"
    )
    print_table(title, ("what", "median", "requests to the registry"), rows)


def _measure(farm: Farm, refs: list[str], runs: int) -> list[tuple[str, str, str]]:
    farm.warm_masters()
    farm.cf("up", "--all")
    argv = [sys.executable, "-m", "compose_farm", "outdated", "--json", "-c", str(farm.config)]

    def cf_outdated() -> None:
        done = subprocess.run(argv, env=farm.env, capture_output=True, text=True, check=False)
        found = json.loads(done.stdout)["services"] if done.stdout.strip() else []
        statuses = {s["status"] for s in found}
        if done.returncode != 0 or statuses != {"up to date"} or len(found) != len(farm.names):
            raise RuntimeError(f"cf outdated: {done.returncode} {statuses}\n{done.stderr[-2000:]}")

    def manifests() -> None:
        with ThreadPoolExecutor(max_workers=len(refs)) as pool:
            jobs = [
                pool.submit(
                    run_quiet, ["docker", "manifest", "inspect", "--insecure", ref], farm.env
                )
                for ref in refs
            ]
            for job in jobs:
                job.result()

    cf = median_of(cf_outdated, runs)
    bound = median_of(manifests, runs)
    return [
        ("cf outdated --json (what runs where, and each image's registry digest)",
         f"{cf * 1000:.0f} ms", f"{len(refs)} HEAD"),
        (f"docker manifest inspect x {len(refs)}, in parallel (registry only)",
         f"{bound * 1000:.0f} ms", f"{len(refs)} GET"),
        ("ratio", f"{cf / bound:.2f}x", ""),
    ]  # fmt: skip
