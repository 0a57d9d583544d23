"""Commands are values: argv plus a working folder, turned into a shell line in one place.

Nothing in Compose Farm pastes text into a shell string. A ``Command`` holds
its arguments as a tuple, and ``shell()`` quotes every one of them with
``shlex.quote``; that is the only way a command reaches a remote shell.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType


@dataclass(frozen=True)
class Command:
    """One program to run on a host: ``argv`` in ``cwd`` with extra ``env``."""

    argv: tuple[str, ...]
    cwd: PurePosixPath | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def shell(self) -> str:
        """The POSIX shell line that runs this command, every value quoted."""
        parts: list[str] = []
        if self.cwd is not None:
            parts.append(f"cd {shlex.quote(str(self.cwd))} &&")
        if self.env:
            parts.append("env")
            parts.extend(shlex.quote(f"{k}={v}") for k, v in self.env.items())
        else:
            parts.append("exec")
        parts.extend(shlex.quote(a) for a in self.argv)
        return " ".join(parts)

    def display(self) -> str:
        """A short human form for logs and errors (no env values: they may be secret)."""
        where = f"(in {self.cwd}) " if self.cwd else ""
        return where + " ".join(shlex.quote(a) for a in self.argv)


@dataclass(frozen=True)
class Script:
    """A fixed POSIX shell program with its inputs passed as quoted positional arguments.

    Used for the few multi-step checks that must cost one round trip (preflight,
    facts). The program text is a constant in our source; user values only ever
    arrive as ``"$1"``, ``"$2"``... so they cannot change what runs.
    """

    program: str
    args: tuple[str, ...] = ()
    # Run with ``stdin``: leave the channel's input open after it (the program reads its
    # input up to a line of its own and then watches for cf hanging up, as the SSH pool
    # does for commands without input; see ``sops.LOADER``).
    keep_stdin_open: bool = False

    def shell(self) -> str:
        """``sh -c PROGRAM sh ARG...`` with everything quoted."""
        quoted = " ".join(shlex.quote(a) for a in self.args)
        return f"sh -c {shlex.quote(self.program)} sh {quoted}".rstrip()

    def display(self) -> str:
        """The first line of the program, for messages."""
        return self.program.strip().splitlines()[0] + " ..."


Runnable = Command | Script


def compose(stack_dir: PurePosixPath, *args: str) -> Command:
    """``docker compose ARGS`` in the stack's folder (Compose finds the file itself)."""
    return Command(argv=("docker", "compose", *args), cwd=stack_dir)


def docker(*args: str) -> Command:
    """A plain ``docker`` command (no folder)."""
    return Command(argv=("docker", *args))
