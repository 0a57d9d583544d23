"""refresh_state: state from facts, keeping what unreachable hosts had."""

from __future__ import annotations

from pathlib import Path

from compose_farm.config import Config
from compose_farm.facts import Container, Facts, HostFacts
from compose_farm.operations.refresh import refresh_state
from compose_farm.state import State
from tests.support.config import make_config


def farm(folder: Path) -> Config:
    return make_config(folder, hosts=("h1", "h2", "h3"), stacks={"a": "h1", "b": "h2", "c": "h3"})


def container(host: str, stack: str, state: str = "running") -> Container:
    return Container(
        host, f"{host}-{stack}", stack, "app", f"/opt/compose/{stack}", "n", "i", state, "", ""
    )


def test_refresh_keeps_unreachable_hosts_and_stopped_stacks(tmp_path: Path) -> None:
    on_h1 = (container("h1", "a"), container("h1", "stray"))
    on_h2 = (container("h2", "b", state="exited"),)  # `cf stop`: still deployed
    facts = Facts(
        {
            "h1": HostFacts("h1", on_h1),
            "h2": HostFacts("h2", on_h2),
            "h3": HostFacts("h3", error="down"),
        },
        {("h1", "h1-a"): "a", ("h2", "h2-b"): "b", ("h1", "h1-stray"): "stray"},
    )
    before = State({"a": ("h2",), "b": ("h2",), "c": ("h3",), "gone": ("h1",)})
    result = refresh_state(farm(tmp_path), before, facts)
    assert result.state.deployed == {"a": ("h1",), "b": ("h2",), "c": ("h3",)}
    assert [(c.stack, c.before, c.after) for c in result.changes] == [
        ("a", ("h2",), ("h1",)),
        ("gone", ("h1",), ()),
    ]
    assert result.unmanaged == {"stray": ("h1",)}
