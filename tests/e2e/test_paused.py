"""A stack a user took down on purpose stays down: `cf down` / `cf stop` record it paused,
`cf apply` and `cf update` leave it down and say so, `cf up` ends the pause.

Every outcome is read from the hosts' engines and the state file.
"""

from __future__ import annotations

import json

import pytest

from compose_farm.state import StateStore
from tests.support.farm import Farm, on

HOSTS = ("h1", "h2", "h3")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]


def paused(farm: Farm) -> dict[str, tuple[str, ...]]:
    return dict(StateStore(farm.state_path).read().paused)


def test_a_downed_stack_stays_down_through_apply_and_update_until_up(farm: Farm) -> None:
    solo = farm.stack("solo", "h1")
    other = farm.stack("other", "h2")
    assert (up := farm.cf("up", solo, other)).returncode == 0, up

    assert (down := farm.cf("down", solo)).returncode == 0, down
    assert paused(farm) == {solo: ("h1",)}
    assert farm.on_engines() == {other: on("h2")}

    applied = farm.cf("apply")
    assert applied.returncode == 0, applied
    assert f"{solo}: paused on h1" in applied.output, applied.output
    assert farm.on_engines() == {other: on("h2")}  # not started again

    updated = farm.cf("update", solo)
    assert updated.returncode == 0, updated
    assert "skipped: paused on h1" in updated.output, updated.output
    assert farm.on_engines() == {other: on("h2")}

    listed = json.loads(farm.cf("list", "--json").stdout)
    assert {s["stack"]: s["paused"] for s in listed} == {solo: ["h1"], other: []}
    shown = json.loads(farm.cf("ps", "--json", solo).stdout)["containers"]
    assert [(r["host"], r["state"], r["paused"]) for r in shown] == [("h1", "paused", True)]

    # a move in the config while paused moves nothing and starts nothing
    farm.place(solo, "h3")
    assert (again := farm.cf("apply")).returncode == 0, again
    assert farm.on_engines() == {other: on("h2")}

    assert (resumed := farm.cf("up", solo)).returncode == 0, resumed
    assert farm.on_engines() == {solo: on("h3"), other: on("h2")}
    assert paused(farm) == {}
    nothing = farm.cf("apply", "--dry-run")
    assert nothing.returncode == 0 and "paused" not in nothing.output, nothing.output


def test_a_stopped_stack_keeps_its_containers_and_apply_leaves_them_stopped(
    farm: Farm,
) -> None:
    pair = farm.stack("pair", ["h1", "h3"])
    assert (up := farm.cf("up", pair)).returncode == 0, up

    assert (stopped := farm.cf("stop", pair, "--host", "h3")).returncode == 0, stopped
    assert paused(farm) == {pair: ("h3",)}
    assert farm.on_engines() == {pair: {"h1": "running", "h3": "exited"}}

    applied = farm.cf("apply")
    assert applied.returncode == 0, applied
    assert f"{pair}: paused on h3" in applied.output, applied.output
    assert farm.on_engines() == {pair: {"h1": "running", "h3": "exited"}}
    shown = json.loads(farm.cf("ps", "--json", pair).stdout)["containers"]
    assert sorted((r["host"], r["paused"]) for r in shown) == [("h1", False), ("h3", True)]

    # `cf up --host h1` ends nothing on h3; `cf up` (every host) ends the pause
    assert (one := farm.cf("up", pair, "--host", "h1")).returncode == 0, one
    assert paused(farm) == {pair: ("h3",)}
    assert (every := farm.cf("up", pair)).returncode == 0, every
    assert farm.on_engines() == {pair: on("h1", "h3")}
    assert paused(farm) == {}


def test_downing_only_some_services_pauses_nothing(farm: Farm) -> None:
    stack = farm.stack("svc", "h2")
    assert (up := farm.cf("up", stack)).returncode == 0, up

    assert (down := farm.cf("down", stack, "--service", "app")).returncode == 0, down

    assert paused(farm) == {}
    assert farm.cf("apply").returncode == 0
    assert farm.on_engines() == {stack: on("h2")}
