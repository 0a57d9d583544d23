"""refresh_state: state from facts, keeping what unreachable hosts had."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from compose_farm.config import Config, HostConfig, StackConfig
from compose_farm.facts import Container, Facts, HostFacts
from compose_farm.operations.refresh import refresh_state
from compose_farm.state import State


def farm() -> Config:
    hosts = {h: HostConfig(address=f"10.0.0.{i}") for i, h in enumerate(("h1", "h2", "h3"), 1)}
    stacks = {
        s: StackConfig(name=s, hosts=(h,)) for s, h in (("a", "h1"), ("b", "h2"), ("c", "h3"))
    }
    return Config(
        path=Path("/x/cf.yaml"),
        compose_dir=PurePosixPath("/opt/compose"),
        hosts=hosts,
        stacks=stacks,
    )


def container(host: str, stack: str, state: str = "running") -> Container:
    return Container(
        host, f"{host}-{stack}", stack, "app", f"/opt/compose/{stack}", "n", "i", state, "", ""
    )


def test_refresh_keeps_unreachable_hosts_and_stopped_stacks() -> None:
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
    result = refresh_state(farm(), before, facts)
    assert result.state.deployed == {"a": ("h1",), "b": ("h2",), "c": ("h3",)}
    assert [(c.stack, c.before, c.after) for c in result.changes] == [
        ("a", ("h2",), ("h1",)),
        ("gone", ("h1",), ()),
    ]
    assert result.unmanaged == {"stray": ("h1",)}
