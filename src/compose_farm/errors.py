"""The error hierarchy. Every error a user can cause is a ``FarmError``.

The CLI turns these into a one-paragraph message and a named exit code in one
place (``cli/common.py``); nothing else prints tracebacks or exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compose_farm.status import ExitStatus


class FarmError(Exception):
    """Root of every error Compose Farm reports to a user."""

    exit_code: ExitStatus = ExitStatus.FAILED
    hint: str | None = None

    def __init__(
        self, message: str, *, hint: str | None = None, exit_code: ExitStatus | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where (path, 1-based line, dotted key) and what."""

    message: str
    path: Path | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        what = f"{self.key}: " if self.key else ""
        return f"{where}{what}{self.message}"


class ConfigError(FarmError):
    """The config file is missing, unreadable or invalid.

    Each problem renders as ``path:line: key: message`` like a compiler error,
    so editors can jump to it. All problems found are reported at once.
    """

    exit_code = ExitStatus.USAGE

    def __init__(
        self,
        message: str = "",
        *,
        path: Path | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.problems = problems or [Problem(message, path, line, key)]
        first = self.problems[0]
        self.path, self.line, self.key = first.path, first.line, first.key
        super().__init__("\n".join(str(p) for p in self.problems), hint=hint)


class StateError(FarmError):
    """The state file is corrupt, unreadable or cannot be written."""

    exit_code = ExitStatus.STATE


class ComposeFileError(FarmError):
    """A stack's compose file is missing or cannot be parsed."""

    exit_code = ExitStatus.USAGE


class UsageError(FarmError):
    """The command line names something that does not exist."""

    exit_code = ExitStatus.USAGE


class HostUnreachableError(FarmError):
    """A host could not be reached or refused the login."""

    exit_code = ExitStatus.UNREACHABLE

    def __init__(self, host: str, message: str, *, hint: str | None = None) -> None:
        self.host = host
        super().__init__(f"host {host!r}: {message}", hint=hint)


class HostKeyError(HostUnreachableError):
    """A host's key is unknown or differs from the recorded one."""


class TransferError(FarmError):
    """Copying a folder to or between hosts failed (a host went away, tar failed, a
    checksum did not match). ``unreachable``: only because a host could not be reached."""

    def __init__(self, message: str, *, hint: str | None = None, unreachable: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.unreachable = unreachable


class KeyFileError(FarmError):
    """A local SSH file (cf's key, its known_hosts, ~/.ssh itself) cannot be read or written."""
