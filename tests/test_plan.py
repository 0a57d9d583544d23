"""The planner, case by case from tests/data/plans.yaml, plus its invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.config import Config
from compose_farm.plan import Plan, PlanOptions, StepKind, make_plan
from compose_farm.state import State
from tests.support.config import make_config

CASES: list[dict[str, Any]] = YAML(typ="safe").load(
    (Path(__file__).parent / "data" / "plans.yaml").read_text()
)
HOSTS = ("h1", "h2", "h3", "h4")


def farm(folder: Path, stacks: dict[str, str | list[str]]) -> Config:
    """A config over h1..h4 from a plain ``stack: host(s)`` mapping."""
    return make_config(folder, hosts=HOSTS, stacks=stacks)


def hosts_map(raw: dict[str, str | list[str]] | None) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in (raw or {}).items()}


def render(plan: Plan) -> list[str]:
    return [
        f"{s.kind.value} {s.describe()}"
        + (f"  ({s.reason})" if "containers crashed" in s.reason else "")
        for s in plan.steps
    ]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_plan_case(case: dict[str, Any], tmp_path: Path) -> None:
    unreachable = dict.fromkeys(case.get("unreachable", []), "no answer")
    running = {
        s: tuple(h for h in hosts if h not in unreachable)
        for s, hosts in hosts_map(case.get("running")).items()
    }
    plan = make_plan(
        farm(tmp_path, case["stacks"]),
        State(hosts_map(case.get("state"))),
        running,
        unreachable,
        PlanOptions(**case.get("options", {})),
        hosts_map(case.get("degraded")),
    )
    assert render(plan) == case["expect"]
    assert [f"{b.stack}: {b.reason}" for b in plan.blocked] == case.get("blocked", [])
    assert plan.empty == (not case["expect"])


def test_enough_cases() -> None:
    assert len(CASES) >= 25


def test_applying_the_plan_leaves_nothing_to_do(tmp_path: Path) -> None:
    """Simulate perfect execution of every case's plan: planning again is empty."""
    for case in CASES:
        if case.get("unreachable") or case.get("options"):
            continue
        cfg = farm(tmp_path, case["stacks"])
        state = State(hosts_map(case.get("state")))
        running = dict(hosts_map(case.get("running")))
        for step in make_plan(cfg, state, running, {}).steps:
            current = set(running.get(step.stack, ()))
            if step.kind in (StepKind.STOP_ORPHAN, StepKind.STOP_STRAY):
                current -= set(step.hosts)
            elif step.kind is StepKind.MIGRATE:
                current = (current - {step.source or ""}) | set(step.hosts)
            else:
                current |= set(step.hosts)
            running[step.stack] = tuple(sorted(current))
            state = state.with_hosts(step.stack, tuple(sorted(current)))
        again = make_plan(cfg, state, running, {})
        assert again.empty, (case["name"], render(again))
