"""Output of any shape reaches the sink in bounded pieces (``executor/stream.py``), locally and
over SSH, and a command never outlives a run that failed or was cancelled.

Lines of a MiB, and output with no newline at all, arrive as events of at most
``MAX_PIECE`` bytes; captured output holds them whole. Whether a process ended is
read from a pidfd (readable once it has exited), so nothing here waits by the
clock; lab hosts share this machine's pid namespace, so that works for h1 too.
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from compose_farm.config import load_config
from compose_farm.executor import Command, Executor, OutputLine, Result, Runnable, Script
from compose_farm.executor.events import Event
from compose_farm.executor.local import LocalRunner
from compose_farm.executor.pipes import tail
from compose_farm.executor.stream import MAX_PIECE, Piece, pieces
from tests.lab import Lab
from tests.support.farm import Farm, open_farm

MIB = 1 << 20
ONE_MIB_LINE = Script(r"head -c 1048576 /dev/zero | tr '\0' x; echo; echo after")
NO_NEWLINE = Script(r"head -c 5000000 /dev/zero | tr '\0' y")
# `$$` is the shell cf started (``Command`` execs it), `$!` the sleep it started.
SLEEPER = Command(("sh", "-c", "sleep 1000 & echo $$ $!; wait"))
STUBBORN = Command(("sh", "-c", "trap '' TERM; sleep 1000 & echo $$ $!; wait"))  # sleep too


def reader(chunks: list[bytes]) -> AsyncIterator[Piece]:
    """``pieces`` over a stream that returns ``chunks``, then its end."""
    waiting = list(chunks)

    async def read(_size: int) -> bytes:
        return waiting.pop(0) if waiting else b""

    return pieces(read)


async def collect(chunks: list[bytes]) -> list[tuple[str, bool]]:
    return [(p.text, p.ends_line) for p in [piece async for piece in reader(chunks)]]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"a\nb\n"], [("a\n", True), ("b\n", True)]),
        ([b"a", b"b\nc"], [("ab\n", True), ("c", True)]),
        ([b"x" * (MAX_PIECE - 1) + b"\n"], [("x" * (MAX_PIECE - 1) + "\n", True)]),
        ([b"x" * MAX_PIECE + b"\n"], [("x" * MAX_PIECE, False), ("\n", True)]),
        ([b"x" * MAX_PIECE], [("x" * MAX_PIECE, False), ("", True)]),
        (
            [b"x" * (MAX_PIECE - 1) + "é".encode() + b"z\n"],  # é cut between two pieces
            [("x" * (MAX_PIECE - 1), False), ("éz\n", True)],
        ),
        ([b"\xff\n"], [("\ufffd\n", True)]),
        ([b""], []),
    ],
    ids=[
        "lines",
        "split-chunks",
        "fits",
        "one-past",
        "exact-no-newline",
        "utf8-cut",
        "bad-byte",
        "empty",
    ],
)
def test_pieces(chunks: list[bytes], expected: list[tuple[str, bool]]) -> None:
    assert asyncio.run(collect(chunks)) == expected


def test_a_pipe_keeps_the_tail_of_its_stderr() -> None:
    chunks = [b"%06d\n" % n for n in range(100_000)]

    async def read(_size: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    kept = asyncio.run(tail(read, limit=70))

    assert kept == b"".join(b"%06d\n" % n for n in range(99_990, 100_000))


# --- the local runner -----------------------------------------------------------------


def run_local(command: Runnable) -> tuple[list[OutputLine], Result]:
    events: list[Event] = []
    result = asyncio.run(
        LocalRunner("local").run(command, stack="s", sink=events.append, capture=True)
    )
    return [e for e in events if isinstance(e, OutputLine)], result


def assert_bounded(lines: list[OutputLine]) -> None:
    assert max(len(line.line.encode()) for line in lines) <= MAX_PIECE


def test_a_local_line_of_a_mib_arrives_in_pieces_and_is_captured_whole() -> None:
    lines, result = run_local(ONE_MIB_LINE)

    assert result.exit_status == 0
    assert_bounded(lines)
    assert "".join(line.line for line in lines[:-1]) == "x" * MIB
    assert lines[-1].line == "after"
    assert result.stdout == "x" * MIB + "\nafter\n"


def test_local_output_without_a_newline_arrives_in_pieces() -> None:
    lines, result = run_local(NO_NEWLINE)

    assert result.exit_status == 0
    assert_bounded(lines)
    assert "".join(line.line for line in lines) == "y" * 5_000_000
    assert result.stdout == "y" * 5_000_000 + "\n"


def test_characters_cut_between_pieces_stay_whole() -> None:
    text = "a" + "é" * 100_000  # every piece boundary falls inside an é
    lines, result = run_local(Command((sys.executable, "-c", f"print('a' + 'é' * {100_000})")))

    assert "".join(line.line for line in lines) == text
    assert "\ufffd" not in result.stdout


def pidfd(pid: int) -> int:
    return os.pidfd_open(pid)


def ended(fd: int) -> bool:
    """True once the process behind ``fd`` has exited (waits up to 30 s for it)."""
    readable, _, _ = select.select([fd], [], [], 30)
    return bool(readable)


async def ends_soon(fd: int) -> bool:
    """``ended`` without blocking the event loop (the SSH connection keeps working)."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(True)

    loop.add_reader(fd, readable)
    try:
        return await asyncio.wait_for(exited, 30)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


def reaped(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


async def until_printed(
    runner: LocalRunner, command: Runnable, fail_in_sink: bool = False
) -> tuple[asyncio.Future[Result], int, int, int]:
    """Start ``command`` (which prints its shell's pid and its sleep's); return the run, both
    pids and a pidfd of the sleep, once they are printed. ``fail_in_sink``: the sink raises."""
    printed: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()

    def sink(event: Event) -> None:
        if isinstance(event, OutputLine) and not printed.done():
            shell, sleep = map(int, event.line.split())
            printed.set_result((shell, sleep))
            if fail_in_sink:
                raise RuntimeError("the page went away")

    run = asyncio.ensure_future(runner.run(command, stack=None, sink=sink, capture=False))
    shell, sleep = await printed
    return run, shell, sleep, pidfd(sleep)


@pytest.mark.parametrize(
    ("command", "grace"), [(SLEEPER, 5.0), (STUBBORN, 0.2)], ids=["term", "kill-after-grace"]
)
def test_a_cancelled_local_run_kills_and_reaps_its_command(command: Command, grace: float) -> None:
    async def go() -> tuple[int, int]:
        run, shell, _sleep, sleep_fd = await until_printed(
            LocalRunner("local", grace=grace), command
        )
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return shell, sleep_fd

    shell, sleep_fd = asyncio.run(go())

    assert reaped(shell)  # cf's own child: waited for before the cancellation went on
    assert ended(sleep_fd)  # what it started: killed with its session


def test_a_failing_sink_kills_and_reaps_the_local_command() -> None:
    async def go() -> tuple[int, int]:
        run, shell, _sleep, sleep_fd = await until_printed(
            LocalRunner("local"), SLEEPER, fail_in_sink=True
        )
        with pytest.raises(RuntimeError, match="the page went away"):
            await run
        return shell, sleep_fd

    shell, sleep_fd = asyncio.run(go())

    assert reaped(shell)
    assert ended(sleep_fd)


# --- over SSH, on the lab ---------------------------------------------------------------


@pytest.fixture
def farm(lab: Lab, tmp_path: Path) -> Iterator[Farm]:
    with open_farm(lab, tmp_path, ["h1"]) as farm:
        yield farm


def run_on_h1(farm: Farm, command: Runnable) -> tuple[list[OutputLine], Result]:
    events: list[Event] = []

    async def go() -> Result:
        config = load_config(farm.config_path)
        async with Executor(config, home=Path(farm.lab.env()["HOME"])) as executor:
            assert not executor.is_local("h1")
            return await executor.run("h1", command, sink=events.append, capture=True)

    result = asyncio.run(go())
    return [e for e in events if isinstance(e, OutputLine)], result


def test_a_line_of_a_mib_on_h1_arrives_in_pieces_and_is_captured_whole(farm: Farm) -> None:
    lines, result = run_on_h1(farm, ONE_MIB_LINE)

    assert result.ok, result
    assert_bounded(lines)
    assert "".join(line.line for line in lines[:-1]) == "x" * MIB
    assert lines[-1].line == "after"
    assert result.stdout == "x" * MIB + "\nafter\n"


def test_output_without_a_newline_on_h1_arrives_in_pieces(farm: Farm) -> None:
    lines, result = run_on_h1(farm, NO_NEWLINE)

    assert result.ok, result
    assert_bounded(lines)
    assert result.stdout == "y" * 5_000_000 + "\n"


def test_a_failing_sink_stops_the_command_on_h1(farm: Farm) -> None:
    async def go() -> bool:
        config = load_config(farm.config_path)
        printed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def sink(event: Event) -> None:
            if isinstance(event, OutputLine) and not printed.done():
                printed.set_result(int(event.line))
                raise RuntimeError("the page went away")

        async with Executor(config, home=Path(farm.lab.env()["HOME"])) as executor:
            run = asyncio.ensure_future(
                executor.run("h1", Script("echo $$; exec sleep 1000"), sink=sink)
            )
            fd = pidfd(await printed)
            with pytest.raises(RuntimeError, match="the page went away"):
                await run
            # Still connected: closing the connection would stop it anyway.
            return await ends_soon(fd)

    assert asyncio.run(go())
