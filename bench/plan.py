"""How long the pure planner takes for a large farm from synthetic facts.

python -m bench plan
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path, PurePosixPath

from bench.table import print_table
from compose_farm.config import Config, HostConfig, StackConfig
from compose_farm.plan import make_plan
from compose_farm.state import State


def synthetic(
    stacks: int, hosts: int, seed: int = 7
) -> tuple[Config, State, dict[str, tuple[str, ...]]]:
    """A farm where about a tenth of the stacks moved, crashed, or left the config."""
    rng = random.Random(seed)
    names = [f"h{i}" for i in range(hosts)]
    config_stacks: dict[str, StackConfig] = {}
    deployed: dict[str, tuple[str, ...]] = {}
    running: dict[str, tuple[str, ...]] = {}
    for i in range(stacks):
        name = f"s{i:05d}"
        targets = tuple(rng.sample(names, 3)) if i % 50 == 0 else (rng.choice(names),)
        config_stacks[name] = StackConfig(name=name, hosts=targets)
        roll = rng.random()
        where = (rng.choice(names),) if roll < 0.05 else targets
        deployed[name] = where
        if roll > 0.03:
            running[name] = where
    for i in range(stacks // 20):
        deployed[f"gone{i}"] = (rng.choice(names),)
    config = Config(
        path=Path("/nonexistent/compose-farm.yaml"),
        compose_dir=PurePosixPath("/opt/compose"),
        hosts={
            h: HostConfig(address=f"10.0.{i // 250}.{i % 250 + 1}") for i, h in enumerate(names)
        },
        stacks=config_stacks,
    )
    return config, State(deployed), running


def main() -> None:
    """Print the planning-time table."""
    rows = []
    for stacks, hosts in ((200, 6), (1000, 20), (2000, 100)):
        config, state, running = synthetic(stacks, hosts)
        times = []
        steps = 0
        for _ in range(15):
            start = time.perf_counter()
            plan = make_plan(config, state, running, {})
            times.append(time.perf_counter() - start)
            steps = len(plan.steps)
        rows.append(
            (
                f"{stacks} stacks / {hosts} hosts",
                str(steps),
                f"{statistics.median(times) * 1000:.1f} ms",
            )
        )
    print_table(
        "Planning from synthetic facts, median of 15 (python -m bench plan)",
        ("farm", "steps", "make_plan"),
        rows,
    )


if __name__ == "__main__":
    main()
