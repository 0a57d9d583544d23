"""The scripted executor tests run operations against: it matches, answers, records and
interrupts as it says, and never lets an unscripted command pass."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import PurePosixPath
from typing import Any, TypeVar

import pytest

from compose_farm.errors import HostUnreachableError
from compose_farm.executor import (
    Command,
    Event,
    Executor,
    ExecutorProtocol,
    OutputLine,
    Result,
    Script,
    compose,
)
from compose_farm.executor.fake import ScriptedExecutor, UnscriptedCall
from compose_farm.executor.pipes import PipeEnd, relay

T = TypeVar("T")
APP = PurePosixPath("/opt/compose/app")
PULL = compose(APP, "pull")
DOWN = compose(APP, "down")
PROBE = Script("echo probe\nexit 0\n", ("one", "two"))

# Both executors are what operations take (mypy checks these two lines).
REAL: type[ExecutorProtocol] = Executor
FAKE: type[ExecutorProtocol] = ScriptedExecutor


def run(job: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(job)


def test_argv_prefix_answers_commands_and_every_call_is_recorded_in_order() -> None:
    fake = ScriptedExecutor()
    fake.on("h2", argv=("docker", "compose", "pull"), status=1, err="manifest unknown")
    fake.on(argv=("docker", "compose"))

    async def calls() -> list[Result]:
        return [
            await fake.run("h1", DOWN, capture=True),
            await fake.run("h2", PULL, capture=True),
            await fake.run("h1", PULL, capture=True),
        ]

    down, pull_h2, pull_h1 = asyncio.run(calls())

    assert (down.ok, pull_h2.exit_status, pull_h2.stderr, pull_h1.ok) == (
        True,
        1,
        "manifest unknown",
        True,
    )
    assert fake.log() == [
        ("h1", "(in /opt/compose/app) docker compose down"),
        ("h2", "(in /opt/compose/app) docker compose pull"),
        ("h1", "(in /opt/compose/app) docker compose pull"),
    ]
    assert fake.ran("h1") == [
        "(in /opt/compose/app) docker compose down",
        "(in /opt/compose/app) docker compose pull",
    ]


def test_an_unmatched_command_fails_loudly_and_is_recorded() -> None:
    fake = ScriptedExecutor()
    fake.on(argv=("docker", "compose", "up"))

    with pytest.raises(UnscriptedCall, match=r"no rule answers run on h1: .*docker compose down"):
        run(fake.run("h1", DOWN))

    assert fake.ran() == ["(in /opt/compose/app) docker compose down"]
    assert len(fake.unscripted) == 1
    assert "argv=docker compose up" in fake.unscripted[0]  # the rules it had, for the reader


def test_an_argv_rule_never_matches_a_script_nor_a_program_rule_a_command() -> None:
    fake = ScriptedExecutor()
    fake.on(argv=("sh",))
    fake.on(program=PROBE.program)

    with pytest.raises(UnscriptedCall):
        run(fake.run("h1", Script("sh\n")))
    with pytest.raises(UnscriptedCall):
        run(fake.run("h1", Command(("cat",))))
    assert run(fake.run("h1", Command(("sh", "-c", "true")))).ok
    assert run(fake.run("h1", PROBE)).ok


def test_programs_match_by_identity_and_argument_prefix_and_show_by_name() -> None:
    fake = ScriptedExecutor(names={PROBE.program: "probe"})
    fake.on(program=PROBE.program, args=("one", "two"), out="both\n")
    fake.on(program=PROBE.program, args=("one",), out="first\n")
    other = Script("echo probe\nexit 1\n", ("one", "two"))

    assert run(fake.run("h1", PROBE, capture=True)).stdout == "both\n"
    assert run(fake.run("h1", Script(PROBE.program, ("one", "x y")), capture=True)).stdout == (
        "first\n"
    )
    with pytest.raises(UnscriptedCall):
        run(fake.run("h1", other))  # same first line, another program
    assert fake.ran() == ["probe one two", "probe one 'x y'", "echo probe ..."]


def test_a_label_can_be_a_function_of_the_arguments() -> None:
    fake = ScriptedExecutor(names={PROBE.program: lambda args: f"probe of {args[-1]}"})
    fake.on(program=PROBE.program)
    run(fake.run("h1", PROBE))
    assert fake.ran() == ["probe of two"]


def test_a_regex_matches_the_shell_form() -> None:
    fake = ScriptedExecutor()
    fake.on(shell=r"^cd /opt/compose/app && exec docker compose down$", status=7)
    fake.on(shell="CF_EVENT=after_up", status=3)

    assert run(fake.run("h1", DOWN)).exit_status == 7
    assert run(fake.run("h1", Script("x", ("CF_EVENT=after_up",)))).exit_status == 3
    with pytest.raises(UnscriptedCall):
        run(fake.run("h1", Script("x", ("CF_EVENT=before_up",))))


def test_nth_answers_only_that_call_and_earlier_rules_win() -> None:
    fake = ScriptedExecutor()
    fake.on("h1", argv=("docker",), nth=2, status=5)
    fake.on(argv=("docker",), status=0)
    never = fake.on(argv=("docker",), status=9)  # the rule above always answers first

    statuses = [run(fake.run("h1", PULL)).exit_status for _ in range(3)]
    assert statuses == [0, 5, 0]
    assert run(fake.run("h2", PULL)).exit_status == 0
    assert fake.unused() == [never]


def test_unused_names_the_rules_that_never_fired() -> None:
    fake = ScriptedExecutor()
    used = fake.on(argv=("docker",))
    never = fake.on(argv=("podman",))
    run(fake.run("h1", PULL))
    assert fake.unused() == [never]
    assert used.fired == 1


def test_output_streams_to_the_sink_and_is_kept_only_when_captured() -> None:
    fake = ScriptedExecutor()
    fake.on(argv=("docker",), status=1, out="a\nb\n", err="oops\n")
    seen: list[Event] = []

    shown = run(fake.run("h1", PULL, stack="app", sink=seen.append))
    kept = run(fake.run("h1", PULL, stack="app", capture=True))

    assert seen == [
        OutputLine("h1", "app", "stdout", "a"),
        OutputLine("h1", "app", "stdout", "b"),
        OutputLine("h1", "app", "stderr", "oops"),
        shown,
    ]
    assert (shown.stdout, shown.stderr, shown.exit_status) == ("", "", 1)
    assert (kept.stdout, kept.stderr) == ("a\nb\n", "oops\n")


def test_an_unreachable_host_is_a_failed_result_and_a_pipe_that_does_not_open() -> None:
    fake = ScriptedExecutor()
    fake.on("h2", unreachable=True, err="no route to host")
    seen: list[Event] = []

    result = run(fake.run("h2", PULL, stack="app", sink=seen.append))

    assert result == Result("h2", "app", 255, error="host 'h2': no route to host", unreachable=True)
    assert seen == [result]

    async def open_one() -> None:
        async with fake.open_pipe("h2", PROBE):
            pytest.fail("an unreachable host gives no pipe")

    with pytest.raises(HostUnreachableError, match="no route to host"):
        run(open_one())


def test_interrupt_raises_at_the_nth_matching_call_after_recording_it() -> None:
    fake = ScriptedExecutor()
    fake.on(argv=("docker",))
    fake.interrupt("h1", argv=("docker", "compose", "down"), nth=2)

    run(fake.run("h1", DOWN))
    with pytest.raises(asyncio.CancelledError):
        run(fake.run("h1", DOWN))
    run(fake.run("h1", DOWN))  # once only

    assert fake.ran("h1") == ["(in /opt/compose/app) docker compose down"] * 3


class Cut(Exception):
    """Not KeyboardInterrupt: raised at the wrong moment, that would stop the test run."""


def test_interrupt_at_counts_every_call_and_takes_any_exception() -> None:
    fake = ScriptedExecutor()
    fake.on()  # anything works
    fake.interrupt_at(3, raises=Cut("cut"))

    run(fake.run("h1", PULL))
    run(fake.run("h2", PROBE))
    with pytest.raises(Cut):
        run(fake.run("h3", DOWN))
    assert [h for h, _ in fake.log()] == ["h1", "h2", "h3"]


def test_concurrent_calls_do_not_shift_which_one_is_the_nth() -> None:
    fake = ScriptedExecutor()
    fake.on(argv=("docker",), nth=1, status=1)
    fake.on(argv=("docker",))

    async def both() -> list[Result]:
        return list(await asyncio.gather(fake.run("h1", PULL), fake.run("h2", PULL)))

    first, second = asyncio.run(both())
    assert (first.host, first.exit_status, second.exit_status) == ("h1", 1, 0)


def test_pipes_print_their_output_record_their_input_and_end_as_scripted() -> None:
    fake = ScriptedExecutor(names={"send\n": "send", "receive\n": "receive"})
    fake.on("h1", program="send\n", out="tar bytes", err="tar: file changed as we read it")
    fake.on("h2", program="receive\n", status=2, err="tar: Cannot write: No space left")

    async def copy() -> tuple[PipeEnd, PipeEnd, int]:
        async with (
            fake.open_pipe("h1", Script("send\n")) as source,
            fake.open_pipe("h2", Script("receive\n")) as destination,
        ):
            return await relay(source, destination, b"./db\0")

    src, dst, sent = asyncio.run(copy())

    assert sent == len(b"tar bytes")
    assert (src.exit_status, dst.exit_status) == (0, 2)
    assert dst.why() == "exit status 2 on h2: tar: Cannot write: No space left"
    written = {c.host: bytes(c.written) for c in fake.calls}
    assert written == {"h1": b"./db\0", "h2": b"tar bytes"}
    assert [(c.via, c.shown) for c in fake.calls] == [("pipe", "send"), ("pipe", "receive")]


def test_local_hosts_and_no_ssh_connections() -> None:
    fake = ScriptedExecutor(local=["h1"])
    assert fake.is_local("h1")
    assert not fake.is_local("h2")
    with pytest.raises(UnscriptedCall, match="no SSH connections"):
        run(fake.ssh_connection("h2"))
    assert fake.unscripted and "ssh_connection('h2')" in fake.unscripted[0]


def test_stdin_given_to_run_is_recorded() -> None:
    fake = ScriptedExecutor()
    fake.on()
    run(fake.run("h1", PROBE, stdin="names\0"))
    assert fake.calls[0].stdin == "names\0"
