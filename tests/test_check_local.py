"""``cf check --local``: every stack's compose project read as Compose reads it, no host asked.

What Compose would refuse is a problem naming the file, line and key; what cf
reads differently or leaves out is a note; a good farm passes.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cf import run_cf
from tests.support.config import write_config

GOOD = "services:\n  app:\n    image: busybox\n"
NO_IMAGE = "services:\n  app:\n    command: [sleep, '1']\n"
REMOTE_INCLUDE = "include:\n  - oci://example.org/stacks/web:1\n" + GOOD


def _check(tmp_path: Path, compose: dict[str, str]) -> tuple[int, dict[str, list[str]]]:
    path = write_config(tmp_path, compose=compose)
    done = run_cf("check", "--local", "--json", "-c", str(path))
    assert "Traceback" not in done.output, done
    return done.returncode, json.loads(done.stdout)


def test_a_good_farm_passes(tmp_path: Path) -> None:
    code, report = _check(tmp_path, {"web": GOOD})
    assert (code, report["problems"], report["notes"]) == (0, [], [])


def test_what_compose_would_refuse_is_a_problem_with_file_line_and_key(tmp_path: Path) -> None:
    code, report = _check(tmp_path, {"web": GOOD, "broken": NO_IMAGE})
    assert code == 1
    [problem] = report["problems"]
    compose_file = tmp_path / "stacks" / "broken" / "compose.yaml"
    assert problem.startswith(f"broken: Compose would refuse it: {compose_file}:2: "), problem
    assert "services.app" in problem and "image" in problem, problem


def test_what_cf_leaves_out_is_a_note_naming_the_file(tmp_path: Path) -> None:
    code, report = _check(tmp_path, {"remote": REMOTE_INCLUDE})
    assert code == 0, report
    [note] = report["notes"]
    assert note.startswith("remote: "), note
    assert str(tmp_path / "stacks" / "remote" / "compose.yaml") in note, note
    assert "remote include" in note, note


def test_up_refuses_what_compose_would_refuse_before_touching_the_host(tmp_path: Path) -> None:
    import asyncio

    from compose_farm.config import load_config
    from compose_farm.executor.fake import ScriptedExecutor
    from compose_farm.operations.lifecycle import Operations
    from compose_farm.state import StateStore

    config = load_config(write_config(tmp_path, compose={"broken": NO_IMAGE}))
    fake = ScriptedExecutor(local=())  # no rule: any command on a host fails the test
    ops = Operations(config, fake, StateStore(config.state_path), lambda _e: None, {})
    [outcome] = asyncio.run(ops.up(["broken"]))
    assert not outcome.ok, outcome
    assert "Compose would refuse it" in outcome.message, outcome
    assert "has neither an image nor a build" in outcome.message, outcome
    assert fake.calls == []  # nothing ran on h1
    assert StateStore(config.state_path).read().hosts_of("broken") == ()
