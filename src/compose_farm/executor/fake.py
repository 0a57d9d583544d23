"""A scripted executor for tests: rules answer commands, every call is recorded.

In the spirit of fabric's test records of ``(command, out, err, exit)``: a rule
matches a host and a command (an argv prefix, a regular expression on the
shell form, a ``Script``'s program and arguments) and gives the answer (exit
status, stdout, stderr, or "unreachable"); stdout and stderr lines reach the
sink as the real executor sends them. Byte pipes (the tar streams of syncs and
data moves) are answered the same way: what the command prints, how it exits.
An interrupt rule raises instead (``asyncio.CancelledError``, what Ctrl-C
becomes inside ``asyncio.run``) at the Nth call it matches::

    fake = ScriptedExecutor(names={LIST_PROGRAM: "list"})
    fake.on("h2", argv=("docker", "compose", "pull"), status=1, err="manifest unknown")
    fake.on(argv=("docker", "compose"))  # every other compose command works
    fake.interrupt("h1", argv=("docker", "compose", "down"))  # Ctrl-C during the stop
    ...
    assert fake.ran("h1") == ["(in /opt/compose/app) docker compose down"]

Interrupt rules come first, then answer rules in the order they were added;
the first that applies wins. A call that no rule answers is recorded in
``unscripted`` and raises ``UnscriptedCall`` (an ``AssertionError``): never a
silent success. ``unused()`` names the rules that never fired, so a test can
check that the failure it scripted really happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NoReturn

from compose_farm.errors import HostUnreachableError
from compose_farm.executor.command import Command, Runnable, Script
from compose_farm.executor.events import OutputLine, Result, Sink, Stream, discard
from compose_farm.executor.pipes import BytePipe, PipeEnd

Label = str | Callable[[tuple[str, ...]], str]
Via = Literal["run", "pipe"]
Raise = type[BaseException] | BaseException


class UnscriptedCall(AssertionError):
    """A command no rule answers (or something the fake cannot do): the test is wrong."""


@dataclass(frozen=True)
class Match:
    """Which calls a rule is about; every criterion given must hold."""

    host: str | None = None  # None: any host
    argv: tuple[str, ...] | None = None  # a Command whose argv starts with these
    program: str | None = None  # a Script with exactly this program text
    args: tuple[str, ...] | None = None  # a Script whose arguments start with these
    shell: str | None = None  # a regular expression found in the shell form

    def __call__(self, host: str, command: Runnable) -> bool:
        """True when this matches ``command`` on ``host``."""
        if self.host is not None and host != self.host:
            return False
        if self.argv is not None and not (
            isinstance(command, Command) and command.argv[: len(self.argv)] == self.argv
        ):
            return False
        if (self.program is not None or self.args is not None) and not isinstance(command, Script):
            return False
        if isinstance(command, Script):
            if self.program is not None and command.program != self.program:
                return False
            if self.args is not None and command.args[: len(self.args)] != self.args:
                return False
        return self.shell is None or re.search(self.shell, command.shell()) is not None

    def describe(self) -> str:
        """A short form for failure messages."""
        parts = [f"host={self.host}" if self.host else "any host"]
        if self.argv is not None:
            parts.append(f"argv={' '.join(self.argv)}...")
        if self.program is not None:
            parts.append(f"program={self.program.strip().splitlines()[0]!r}...")
        if self.args is not None:
            parts.append(f"args={list(self.args)}...")
        if self.shell is not None:
            parts.append(f"shell~{self.shell!r}")
        return " ".join(parts)


@dataclass(frozen=True)
class Reply:
    """A scripted answer: how the command ends and what it prints."""

    status: int = 0
    out: str = ""
    err: str = ""
    unreachable: bool = False  # the host cannot be reached: ``err`` says why


@dataclass
class Rule:
    """``match`` answered by ``reply`` (or interrupted by ``raises``), at every matching call
    or only the ``nth`` (1-based, counting every call ``match`` matches)."""

    match: Match
    reply: Reply = field(default_factory=Reply)
    nth: int | None = None
    raises: Raise | None = None
    seen: int = 0  # calls that matched
    fired: int = 0  # calls this rule answered or interrupted

    def applies(self) -> bool:
        """True when the call just counted is one this rule answers."""
        return self.nth is None or self.seen == self.nth

    def describe(self) -> str:
        """A short form for failure messages."""
        when = "" if self.nth is None else f" (call {self.nth})"
        what = f"raises {self.raises!r}" if self.raises is not None else f"{self.reply}"
        return f"{self.match.describe()}{when}: {what}"


@dataclass
class Call:
    """One call the fake received, in order: the host, the command and how it was shown."""

    host: str
    command: Runnable
    shown: str
    via: Via = "run"
    stdin: str | None = None  # what ``run`` was given on stdin
    written: bytearray = field(default_factory=bytearray)  # what a pipe's stdin received


class ScriptedPipe:
    """A ``BytePipe`` whose command prints ``reply.out`` and exits as the reply says."""

    def __init__(self, host: str, reply: Reply, call: Call) -> None:
        self.host = host
        self.reply = reply
        self.call = call
        self.aborted = False
        self._output = reply.out.encode()

    async def write(self, data: bytes) -> None:
        self.call.written += data

    async def close_input(self) -> None:
        """Nothing to close: the input is already recorded."""

    async def read(self) -> bytes:
        await asyncio.sleep(0)  # a real read waits for the command: the writer runs meanwhile
        chunk, self._output = self._output, b""
        return chunk

    async def finish(self) -> PipeEnd:
        return PipeEnd(self.host, self.reply.status, self.reply.err)

    def abort(self) -> None:
        self.aborted = True


class ScriptedExecutor:
    """An ``ExecutorProtocol`` that answers from rules and records every call.

    ``local``: hosts ``is_local`` says are this machine. ``names``: program text ->
    a label (shown as ``label ARGS...``) or a function of the arguments, so a
    ``Script`` reads as ``list /opt/data`` in the record instead of its first line.
    """

    def __init__(
        self, *, local: Iterable[str] = (), names: Mapping[str, Label] | None = None
    ) -> None:
        self.local = frozenset(local)
        self.names = dict(names or {})
        self.rules: list[Rule] = []
        self.interrupts: list[Rule] = []
        self.calls: list[Call] = []
        self.unscripted: list[str] = []

    # ------------------------------------------------------------ scripting

    def on(
        self,
        host: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        program: str | None = None,
        args: Sequence[str] | None = None,
        shell: str | None = None,
        nth: int | None = None,
        status: int = 0,
        out: str = "",
        err: str = "",
        unreachable: bool = False,
    ) -> Rule:
        """Answer matching calls (after the rules added before this one)."""
        rule = Rule(
            _match(host, argv, program, args, shell), Reply(status, out, err, unreachable), nth
        )
        self.rules.append(rule)
        return rule

    def interrupt(
        self,
        host: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        program: str | None = None,
        args: Sequence[str] | None = None,
        shell: str | None = None,
        nth: int = 1,
        raises: Raise = asyncio.CancelledError,
    ) -> Rule:
        """Raise ``raises`` at the ``nth`` matching call, once it has been recorded (as
        Ctrl-C would arrive while that command runs); before any answer rule."""
        rule = Rule(_match(host, argv, program, args, shell), nth=nth, raises=raises)
        self.interrupts.append(rule)
        return rule

    def interrupt_at(self, nth: int, raises: Raise = asyncio.CancelledError) -> Rule:
        """Raise ``raises`` at the ``nth`` call of any kind, on any host."""
        return self.interrupt(nth=nth, raises=raises)

    # ------------------------------------------------------------ what happened

    def ran(self, host: str | None = None) -> list[str]:
        """The calls on ``host`` (or on every host) as shown, in order."""
        return [c.shown for c in self.calls if host is None or c.host == host]

    def log(self) -> list[tuple[str, str]]:
        """Every call as ``(host, shown)``, in order."""
        return [(c.host, c.shown) for c in self.calls]

    def unused(self) -> list[Rule]:
        """The rules that never answered or interrupted a call."""
        return [r for r in (*self.interrupts, *self.rules) if not r.fired]

    def show(self, command: Runnable) -> str:
        """How a call is recorded: a named program as its label and arguments, anything
        else as the command's own ``display()``."""
        if isinstance(command, Script) and command.program in self.names:
            label = self.names[command.program]
            if callable(label):
                return label(command.args)
            return " ".join([label, *(shlex.quote(a) for a in command.args)])
        return command.display()

    # ------------------------------------------------------------ the protocol

    async def run(
        self,
        host: str,
        command: Runnable,
        *,
        stack: str | None = None,
        sink: Sink = discard,
        capture: bool = False,
        stdin: str | None = None,
    ) -> Result:
        """Answer from the rules; output lines to ``sink`` as the real executor sends them."""
        _, reply = await self._answer(Call(host, command, self.show(command), "run", stdin))
        if reply.unreachable:
            result = Result(
                host, stack, 255, error=_unreachable(host, reply).message, unreachable=True
            )
            sink(result)
            return result
        streams: tuple[tuple[Stream, str], ...] = (("stdout", reply.out), ("stderr", reply.err))
        for stream, text in streams:
            for line in text.splitlines():
                sink(OutputLine(host=host, stack=stack, stream=stream, line=line))
        result = Result(
            host,
            stack,
            reply.status,
            stdout=reply.out if capture else "",
            stderr=reply.err if capture else "",
        )
        sink(result)
        return result

    @contextlib.asynccontextmanager
    async def open_pipe(self, host: str, command: Runnable) -> AsyncIterator[BytePipe]:
        """A pipe that prints the reply's ``out`` and ends with its status and ``err``;
        ``HostUnreachableError`` for an unreachable reply, as the real one raises."""
        call, reply = await self._answer(Call(host, command, self.show(command), "pipe"))
        if reply.unreachable:
            raise _unreachable(host, reply)
        yield ScriptedPipe(host, reply, call)

    def is_local(self, host: str) -> bool:
        return host in self.local

    async def ssh_connection(self, host: str) -> NoReturn:
        why = (
            f"ssh_connection({host!r}): the scripted executor has no SSH connections "
            "(host-to-host copies need one: mark a host local, or keep copies small)"
        )
        self.unscripted.append(why)
        raise UnscriptedCall(why)

    # ------------------------------------------------------------ inside

    async def _answer(self, call: Call) -> tuple[Call, Reply]:
        self.calls.append(call)
        matching = [r for r in (*self.interrupts, *self.rules) if r.match(call.host, call.command)]
        for rule in matching:
            rule.seen += 1
        # Decided now: calls made meanwhile must not shift which one is the nth.
        chosen = next((r for r in matching if r.applies()), None)
        if chosen is not None:
            chosen.fired += 1
        await asyncio.sleep(0)  # a real command always lets other tasks run meanwhile
        if chosen is None:
            known = "\n".join(f"  {r.describe()}" for r in self.rules) or "  (none)"
            why = f"no rule answers {call.via} on {call.host}: {call.shown}\nrules:\n{known}"
            self.unscripted.append(why)
            raise UnscriptedCall(why)
        if chosen.raises is not None:
            raise chosen.raises
        return call, chosen.reply


def _match(
    host: str | None,
    argv: Sequence[str] | None,
    program: str | None,
    args: Sequence[str] | None,
    shell: str | None,
) -> Match:
    return Match(
        host,
        None if argv is None else tuple(argv),
        program,
        None if args is None else tuple(args),
        shell,
    )


def _unreachable(host: str, reply: Reply) -> HostUnreachableError:
    return HostUnreachableError(host, reply.err or "cannot be reached (scripted)")
