"""The planner, case by case from tests/data/plans.yaml, plus its invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.config import Config
from compose_farm.drift import ServiceDrift, StackDrift
from compose_farm.plan import Plan, PlanOptions, StepKind, describe, make_plan
from compose_farm.state import State
from compose_farm.sync.manifest import Drift
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


def _drift(stack: str, host: str, *services: str) -> StackDrift:
    return StackDrift(
        stack, host, tuple(ServiceDrift(s, ("configuration changed",)) for s in services)
    )


def test_drift_where_a_stack_runs_and_stays_is_an_update_of_those_services(
    tmp_path: Path,
) -> None:
    cfg = farm(tmp_path, {"web": "h1", "both": ["h1", "h2"]})
    state = State({"web": ("h1",), "both": ("h1", "h2")})
    running = {"web": ("h1",), "both": ("h1", "h2")}
    drift = {("web", "h1"): _drift("web", "h1", "app"), ("both", "h2"): _drift("both", "h2", "x")}
    plan = make_plan(cfg, state, running, {}, drift=drift)
    assert [(s.kind, s.stack, s.hosts, s.services) for s in plan.steps] == [
        (StepKind.UPDATE, "both", ("h2",), ("x",)),
        (StepKind.UPDATE, "web", ("h1",), ("app",)),
    ]
    assert render(plan)[1] == "update web on h1: app: configuration changed"
    assert (
        make_plan(cfg, state, running, {}, PlanOptions(full=True), drift=drift).of_kind(
            StepKind.UPDATE
        )
        == []
    )  # --full recreates everything anyway


def test_drift_on_a_host_the_stack_leaves_or_restarts_on_is_not_an_update(
    tmp_path: Path,
) -> None:
    cfg = farm(tmp_path, {"moved": "h2", "stray": "h1", "crashed": "h1"})
    state = State({"moved": ("h1",), "stray": ("h1",), "crashed": ("h1",)})
    running = {"moved": ("h1",), "stray": ("h1", "h3"), "crashed": ("h1",)}
    drift = {
        ("moved", "h1"): _drift("moved", "h1", "a"),  # it moves: up on h2 reads the files anew
        ("stray", "h3"): _drift("stray", "h3", "a"),  # stopped there
        ("crashed", "h1"): _drift("crashed", "h1", "a"),  # started there: the start is enough
    }
    plan = make_plan(cfg, state, running, {}, degraded={"crashed": ("h1",)}, drift=drift)
    assert plan.of_kind(StepKind.UPDATE) == []


def test_a_project_a_host_cannot_read_is_said_not_acted_on(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"web": "h1"})
    broken = {("web", "h1"): StackDrift("web", "h1", error="yaml: line 2: did not find key")}
    plan = make_plan(cfg, State({"web": ("h1",)}), {"web": ("h1",)}, {}, drift=broken)
    assert plan.empty and plan.unread == ("web on h1: yaml: line 2: did not find key",)
    assert describe(plan)[-1].title == "Could not compare with the compose project"


def test_a_synced_folder_that_differs_here_is_an_update_that_resyncs(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"web": "h1", "logs": "h2", "gone": "h3"})
    state = State({"web": ("h1",), "logs": ("h2",), "gone": ("h3",)})
    running = {"web": ("h1",), "logs": ("h2",), "gone": ("h3",)}
    folders: dict[tuple[str, str], Drift | str] = {
        ("web", "h1"): Drift(changed=("compose.yaml",), extra=("data/x",)),
        ("logs", "h2"): Drift(extra=("written-by-the-app.log",)),  # host-only files: fine
        ("gone", "h3"): "no such folder here: /srv/gone",
    }
    plan = make_plan(cfg, state, running, {}, folders=folders)
    [step] = plan.steps
    assert (step.stack, step.hosts, step.resync) == ("web", ("h1",), True)
    assert step.changes == ("folder differs from this machine's (changed: compose.yaml)",)
    assert plan.unread == ("gone on h3: cannot compare its folder: no such folder here: /srv/gone",)


def test_a_paused_stack_is_neither_started_nor_moved_and_the_plan_says_so(
    tmp_path: Path,
) -> None:
    config = farm(tmp_path, {"db": "h2", "web": "h1", "pair": ["h1", "h2", "h3"]})
    # db was downed on h1, then moved to h2 in the config; web was stopped (containers
    # kept, still recorded); pair was downed on h3 only
    state = State(
        {"web": ("h1",), "pair": ("h1", "h2")},
        {},
        {"db": ("h1",), "web": ("h1",), "pair": ("h3",)},
    )
    running = {"pair": ("h1", "h2")}

    plan = make_plan(config, state, running, {})

    assert plan.steps == ()
    assert [(b.stack, b.reason) for b in plan.paused] == [
        ("db", "paused on h1: `cf up db`"),
        ("web", "paused on h1: `cf up web`"),
        ("pair", "paused on h3: `cf up pair --host HOST`"),
    ]
    assert describe(plan)[-1].title == "Paused (left down)"

    # without the pauses, the same farm has three things to do
    unpaused = make_plan(config, State(state.deployed), running, {})
    assert render(unpaused) == [
        "start db on h2",
        "start web on h1",
        "start pair on h3",
    ]
