"""What keeps cf's own work linear in the number of stacks (docs/scaling.md).

These check behaviour, never time: how often a lookup walks every host's
answer, whether an unchanged state or config file is parsed again, that the
state file written line by line is exactly what the YAML emitter writes, and
that secrets are matched by their shared prefixes, not one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from compose_farm.backups import Backups
from compose_farm.compose.masking import masker, pattern_for
from compose_farm.config import Config
from compose_farm.facts import Container, Facts, HostFacts
from compose_farm.names import is_safe_name
from compose_farm.state import State, StateStore, parse_state, render_state
from compose_farm.web.auth import Auth
from compose_farm.web.farm import Farm
from compose_farm.yamlio import dump_yaml
from tests.support.config import write_config


class Answer(tuple[Container, ...]):
    """A host's containers that count how often they are walked."""

    walks = 0

    def __iter__(self) -> Iterator[Container]:
        Answer.walks += 1
        return super().__iter__()


def _facts(hosts: int, stacks: int) -> Facts:
    per_host: dict[str, list[Container]] = {f"h{i}": [] for i in range(hosts)}
    owners: dict[tuple[str, str], str] = {}
    for i in range(stacks):
        host, stack = f"h{i % hosts}", f"s{i}"
        for service in ("app", "db"):
            c = Container(host, f"{stack}-{service}", stack, service, "", "", "", "running", "", "")
            per_host[host].append(c)
            owners[(host, c.id)] = stack
    return Facts({h: HostFacts(h, Answer(cs)) for h, cs in per_host.items()}, owners)


def test_asking_every_stack_walks_each_hosts_answer_once() -> None:
    facts = _facts(hosts=4, stacks=200)
    Answer.walks = 0
    for i in range(200):
        assert [c.id for c in facts.containers(f"s{i}")] == [f"s{i}-app", f"s{i}-db"]
        assert facts.running_hosts(f"s{i}") == (f"h{i % 4}",)
    assert Answer.walks <= 4  # once per host, not once per stack and host
    assert facts.containers("unknown") == []


def test_a_stacks_containers_are_a_fresh_list() -> None:
    facts = _facts(hosts=2, stacks=3)
    facts.containers("s1").clear()
    assert len(facts.containers("s1")) == 2


def test_an_unchanged_state_file_is_not_parsed_again(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.yaml")
    written = store.update("plex", ("nuc",))
    assert store.read() is written  # what was just written is not parsed back
    assert store.read() is store.read()
    other = StateStore(store.path)  # another cf process
    other.update("web", ("hp",))
    assert store.read().deployed == {"plex": ("nuc",), "web": ("hp",)}
    store.path.write_text("version: 1\ndeployed:\n  plex: hp\n")  # a hand edit
    assert store.read().deployed == {"plex": ("hp",)}


STATES = [
    State(),
    State({"plex": ("nuc",), "web": ("nuc", "hp"), "a.b-c_d": ("h1",)}),
    State({"plex": ("hp",)}, {"plex": ("nuc",), "web": ("h1", "h2")}),
    State({"yes": ("on",), "n": ("Null",), "TRUE": ("off",)}),  # YAML 1.1 booleans: quoted
    State({"1": ("2",), "1e3": ("0x1f",), "inf": ("nan",), "é": ("ü",)}),
    State({"plex": ("10.0.0.1",), "web": ("host name", "-x", "a:b", "#c")}),
    State({"plex": ("a\nb",), "web": ("on\n",)}),
]


@pytest.mark.parametrize("state", STATES, ids=range(len(STATES)))
def test_the_state_file_reads_as_the_yaml_emitter_writes_it(state: State) -> None:
    text = render_state(state)
    assert text == dump_yaml(state.to_document())
    if all(is_safe_name(n) for n in state.deployed):
        assert parse_state(text, Path("state.yaml")) == state


class NothingRuns:
    """An executor whose hosts all answer ``docker ps`` with no containers."""

    def __init__(self, _config: Config) -> None:
        pass

    async def __aenter__(self) -> NothingRuns:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def run(self, host: str, _command: Any, **_options: Any) -> Any:
        from compose_farm.executor import Result

        return Result(host, None, 0)


def test_the_web_parses_config_and_state_again_only_when_they_change(tmp_path: Path) -> None:
    path = write_config(tmp_path, hosts=("h1",), stacks={"plex": "h1"})
    nothing_runs: Any = NothingRuns  # an executor in all that snapshot() uses
    farm = Farm(path, Auth(), executor_factory=nothing_runs, backups=Backups(tmp_path / "b"))
    config = farm.config()
    assert farm.config() is config
    StateStore(config.state_path).update("plex", ("h1",))
    first = asyncio.run(farm.snapshot(fresh=True))
    again = asyncio.run(farm.snapshot(fresh=True))
    assert again.config is first.config and again.state is first.state
    StateStore(config.state_path).update("plex", ())
    path.write_text(path.read_text().replace("plex: h1", "plex: h1\n  web: h1"))
    changed = asyncio.run(farm.snapshot(fresh=True))
    assert set(changed.config.stacks) == {"plex", "web"} and changed.state.deployed == {}


def test_secrets_are_matched_by_their_shared_prefixes() -> None:
    assert pattern_for(["abcd", "abce", "abc", "x.y*"]).pattern == r"(?:abc(?:d|e)?|x\.y\*)"


MASKING = [
    (["hunter22", "hunter2222"], "a hunter2222 b hunter22c", "a *** b ***c"),  # longest wins
    (["s3cr(et)", "s3cr"], "s3cr(et) and s3cr(", "*** and ***("),
    (["aaaa", "aaaaaa"], "aaaaaaaaaaa", "******a"),  # 6 then 4, from the left
    (["pässwörd", "line\nbreak"], "pässwörd line\nbreak", "*** ***"),
    (["abc", "", "abcd"], "abc abcd", "abc ***"),  # shorter than 4: not masked
    ([f"{i:04d}-key" for i in range(2000)], "0042-key 1999-key 2000-key", "*** *** 2000-key"),
    (["a" * n for n in range(4, 400)], "a" * 1000, "***" * 3),  # deeper than 100: a list
]


@pytest.mark.parametrize(("secrets", "text", "shown"), MASKING, ids=range(len(MASKING)))
def test_masking_hides_the_longest_secret_at_each_place(
    secrets: list[str], text: str, shown: str
) -> None:
    assert masker(secrets)(text) == shown
