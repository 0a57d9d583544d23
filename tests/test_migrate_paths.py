"""Operations.migrate, every way out, row by row from tests/data/migrate_paths.yaml.

Each row runs the real ``Operations.migrate`` in-process against a real config
file and state file in ``tmp_path`` and a scripted executor: the world below
answers every command as healthy hosts would, and the row's own rules make one
step fail, or raise ``CancelledError`` (Ctrl-C) while it runs. Then the outcome,
the state file and the commands each host received are compared with the row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.config import Config, load_config
from compose_farm.executor import Command, Event, Runnable
from compose_farm.executor.fake import Call, Label, ScriptedExecutor
from compose_farm.operations import preflight
from compose_farm.operations.hooks import HOST_HOOK_PROGRAM
from compose_farm.operations.lifecycle import Operations, Outcome
from compose_farm.state import State, StateStore
from compose_farm.sync import remote

TABLE: dict[str, Any] = YAML(typ="safe").load(
    (Path(__file__).parent / "data" / "migrate_paths.yaml").read_text()
)
ROWS: list[dict[str, Any]] = TABLE["rows"]
NEW = "h2"  # every row moves its stack here

# The programs rows name, and how a call of each is shown: "list data", "hook after_migrate".
PROGRAMS = {
    "preflight": preflight.PROGRAM,
    "hook": HOST_HOOK_PROGRAM,
    "list": remote.LIST_PROGRAM,
    "checksum": remote.CHECKSUM_PROGRAM,
    "send": remote.SEND_PROGRAM,
    "receive": remote.RECEIVE_PROGRAM,
    "set-aside": remote.SET_ASIDE_PROGRAM,
    "remove": remote.REMOVE_PROGRAM,
}


def _leaf(path: str) -> str:
    return PurePosixPath(path).name


def _hook(args: tuple[str, ...]) -> str:
    event = next(a.split("=", 1)[1] for a in args if a.startswith("CF_EVENT="))
    return f"hook {event}"


NAMES: dict[str, Label] = {
    preflight.PROGRAM: lambda _a: "preflight",  # a stack's own folder: nothing worth showing
    HOST_HOOK_PROGRAM: _hook,
    remote.LIST_PROGRAM: lambda a: f"list {_leaf(a[0])}",
    remote.CHECKSUM_PROGRAM: lambda a: f"checksum {_leaf(a[0])} {a[1]}",
    remote.SEND_PROGRAM: lambda a: f"send {_leaf(a[0])}",
    remote.RECEIVE_PROGRAM: lambda a: f"receive {_leaf(a[0])}",
    remote.SET_ASIDE_PROGRAM: lambda a: f"set-aside {_leaf(a[0])}",
    remote.REMOVE_PROGRAM: lambda a: f"remove {_leaf(a[0])} {' '.join(a[1:])}",
}
# The old hosts' data folder: one settled file, db (3 bytes, written long before the
# host's clock, 5000 s, so the check while running can vouch for it).
LISTING = "d 0 5000.000000000\0.\0\0f 3 1000.000000000\0db\0\0"
DIGESTS = "a" * 64 + "  ./db\n"
TAR = "a tar stream of db"


def healthy_world(fake: ScriptedExecutor) -> None:
    """Every command works; the new host has no data folder until the first copy."""
    fake.on(program=preflight.PROGRAM)
    fake.on(program=HOST_HOOK_PROGRAM)
    fake.on(argv=("docker", "compose"))
    fake.on(NEW, program=remote.LIST_PROGRAM, nth=1)  # nothing there yet
    fake.on(program=remote.LIST_PROGRAM, out=LISTING)
    fake.on(program=remote.CHECKSUM_PROGRAM, out=DIGESTS)
    fake.on(program=remote.SET_ASIDE_PROGRAM)
    fake.on(program=remote.REMOVE_PROGRAM)
    fake.on(program=remote.SEND_PROGRAM, out=TAR)
    fake.on(program=remote.RECEIVE_PROGRAM)


def add_rule(fake: ScriptedExecutor, rule: Mapping[str, Any]) -> None:
    """A row's rule, in the vocabulary the data file's header describes."""
    match: dict[str, Any] = {
        "argv": rule["argv"].split() if "argv" in rule else None,
        "program": PROGRAMS[rule["program"]] if "program" in rule else None,
        "args": rule.get("args"),
        "shell": rule.get("shell"),
    }
    if rule.get("interrupt"):
        fake.interrupt(rule.get("host"), nth=rule.get("nth", 1), **match)
        return
    fake.on(
        rule.get("host"),
        nth=rule.get("nth"),
        status=rule.get("status", 0),
        out=rule.get("out", ""),
        err=rule.get("err", ""),
        unreachable=rule.get("unreachable", False),
        **match,
    )


def step(call: Call) -> str:
    """A call as rows write it: ``compose up -d`` for ``(in DIR) docker compose up -d``."""
    command = call.command
    if isinstance(command, Command) and command.argv[:2] == ("docker", "compose"):
        return " ".join(command.argv[1:])
    return call.shown


def flat(items: list[Any]) -> list[str]:
    """A row's list of calls with its YAML aliases (lists of calls) spliced in."""
    out: list[str] = []
    for item in items:
        out.extend(flat(item) if isinstance(item, list) else [item])
    return out


def placement(raw: Mapping[str, str | list[str]] | None) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in (raw or {}).items()}


def make_config(tmp_path: Path) -> Config:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(TABLE["config"])
    config = load_config(path)
    # Preflight reads a compose file it finds on this machine; there must be none.
    assert not Path(str(config.compose_dir)).exists(), config.compose_dir
    return config


def row_param(row: dict[str, Any]) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=row["xfail"])] if "xfail" in row else []
    return pytest.param(row, id=row["name"], marks=marks)


@pytest.mark.parametrize("row", [row_param(r) for r in ROWS])
def test_migrate_path(row: dict[str, Any], tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = StateStore(config.state_path)
    store.replace(State(placement(row["state"])))
    fake = ScriptedExecutor(names=NAMES)
    for rule in row.get("rules", []):
        add_rule(fake, rule)
    row_rules = list(fake.interrupts + fake.rules)
    healthy_world(fake)
    events: list[Event] = []
    ops = Operations(config, fake, store, events.append, environ={})
    stack = row["stack"]
    olds = store.read().hosts_of(stack)
    assert config.stacks[stack].hosts == (NEW,)

    outcome: Outcome | None = None
    if row.get("interrupted"):
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(ops.migrate(stack, olds, NEW))
    else:
        outcome = asyncio.run(ops.migrate(stack, olds, NEW))

    assert fake.unscripted == [], "\n".join(fake.unscripted)
    assert [r.describe() for r in row_rules if not r.fired] == [], "a row rule never applied"
    if outcome is not None:
        expected = row["outcome"]
        assert outcome.ok is expected["ok"], outcome
        messages = expected["message"]
        for part in [messages] if isinstance(messages, str) else messages:
            assert part in outcome.message, outcome
        assert outcome.unreachable is expected.get("unreachable", False), outcome
        if "hosts" in expected:
            assert outcome.hosts == tuple(expected["hosts"]), outcome
    state = store.read()
    assert dict(state.deployed) == placement(row["after"])
    assert dict(state.data_left) == placement(row.get("data_left"))

    ran: dict[str, list[str]] = {}
    for call in fake.calls:
        ran.setdefault(call.host, []).append(step(call))
    unchecked = set(row.get("unchecked", []))
    expected_ran = {h: flat(calls) for h, calls in (row.get("ran") or {}).items()}
    assert {h: c for h, c in ran.items() if h not in unchecked} == {
        h: c for h, c in expected_ran.items() if c and h not in unchecked
    }
    if "order" in row:
        assert [f"{c.host}: {step(c)}" for c in fake.calls] == row["order"]
    assert_never_two_copies(fake.calls, olds)


def assert_never_two_copies(calls: list[Call], olds: tuple[str, ...]) -> None:
    """``up`` on the new host only after ``down`` on every old host."""
    steps = [(c.host, step(c)) for c in calls]
    if (NEW, "compose up -d") not in steps:
        return
    first_up = steps.index((NEW, "compose up -d"))
    for old in olds:
        assert (old, "compose down") in steps[:first_up], f"up on {NEW} before down on {old}"


def test_every_way_out_has_a_row() -> None:
    """Success first, then a failure at each step and Ctrl-C at each step."""
    names = [r["name"] for r in ROWS]
    assert names[0] == "success"
    assert len(names) == len(set(names))
    for way_out in (
        "before_migrate hook fails",
        "preflight finds",
        "pull fails",
        "pre-copy fails",
        "down fails on the old host",
        "down fails on one of two",
        "final data copy fails",
        "does not verify",
        "up fails on the new host",
        "starting again on the old host fails too",
        "after_migrate hook fails",
        "Ctrl-C in the before_migrate hook",
        "Ctrl-C in the preflight",
        "Ctrl-C in the pull",
        "Ctrl-C in the data pre-copy",
        "Ctrl-C in down on the old host",
        "Ctrl-C in the final data copy",
        "Ctrl-C in up on the new host",
        "Ctrl-C in the after_migrate hook",
        "Ctrl-C while the stack is started again",
    ):
        assert any(way_out in n for n in names), way_out


def test_the_data_travels_through_the_pipes(tmp_path: Path) -> None:
    """In the healthy move of a stack with data, the old host's tar stream is what the new
    host receives, and the old host is asked for exactly the folder and db."""
    config = make_config(tmp_path)
    store = StateStore(config.state_path)
    store.replace(State({"vault": ("h1",)}))
    fake = ScriptedExecutor(names=NAMES)
    healthy_world(fake)
    ops = Operations(config, fake, store, lambda _e: None, environ={})

    outcome = asyncio.run(ops.migrate("vault", ("h1",), NEW))

    assert outcome.ok, outcome
    pipes = {(c.host, step(c)): c for c in fake.calls if c.via == "pipe"}
    assert set(pipes) == {("h1", "send data"), (NEW, "receive data")}
    assert bytes(pipes["h1", "send data"].written) == b".\0./db\0"
    assert bytes(pipes[NEW, "receive data"].written) == TAR.encode()
    receive = pipes[NEW, "receive data"].command
    assert _args(receive) == ("/opt/compose/vault/data", "owners")


def _args(command: Runnable) -> tuple[str, ...]:
    assert not isinstance(command, Command)
    return command.args
