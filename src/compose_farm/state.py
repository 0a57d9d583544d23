"""The state file: what Compose Farm deployed where.

``compose-farm-state.yaml`` lives beside the config::

    version: 1
    deployed:
      plex: nuc
      web: [nuc, hp]
    data_left:          # only after moves of stacks with data (docs/sync-and-data.md)
      plex: [hp]
    paused:             # stopped on purpose (cf down / cf stop): apply leaves them down
      db: [nuc]
    commit: 0a1b2c...   # the git commit `cf pull-config` last applied (docs/git.md)

In memory a stack always maps to a tuple of host names. ``data_left`` names
the hosts that still hold a copy of a moved stack's data, until
``cf prune-data`` removes it. ``paused`` names the hosts where a user took a
stack down on purpose (``cf down``, ``cf stop``, the web's Down and Stop):
``cf apply`` and ``cf update`` leave it down there, and ``cf up`` (or anything
that records it running there again) ends the pause. ``commit`` is the git
commit of the compose folder that ``cf pull-config`` (or ``cf web``) last
applied in full; only that workflow sets it. Every change is a
read-modify-write under an exclusive ``flock`` on a sidecar lock file, and the
new content is written to a temporary file, fsynced and renamed over the old
one, so two ``cf`` processes never lose each other's updates and a crash never
leaves a half-written file. A file that cannot be parsed is reported and never
overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compose_farm.errors import ConfigError, StateError
from compose_farm.fsutil import atomic_write
from compose_farm.names import name_problem
from compose_farm.yamlio import dump_yaml, odd_keys, parse_yaml, to_plain

STATE_VERSION = 1
# Lines of names that YAML reads as the strings they are (no quotes needed): a letter, then
# letters, digits, '.', '_' and '-', and no word a YAML 1.1 or 1.2 reader takes for a
# boolean or null. Checked over all names at once: the file is rewritten after every step.
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object names
_PLAIN_LINES = re.compile(
    r"(?:(?!(?:y|yes|n|no|on|off|true|false|null)\n)[A-Za-z][A-Za-z0-9._-]*\n)*", re.IGNORECASE
)


@dataclass(frozen=True)
class State:
    """An immutable snapshot: stack name -> hosts it is deployed on (and where its old
    data copies are, and where it is paused)."""

    deployed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    data_left: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    paused: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    commit: str | None = None  # the git commit last applied (gitpull.py)

    def __post_init__(self) -> None:
        for name in ("deployed", "data_left", "paused"):
            value: Mapping[str, tuple[str, ...]] = getattr(self, name)
            frozen = {k: tuple(dict.fromkeys(v)) for k, v in sorted(value.items()) if v}
            object.__setattr__(self, name, MappingProxyType(frozen))

    def hosts_of(self, stack: str) -> tuple[str, ...]:
        """Hosts ``stack`` is recorded on (empty when not deployed)."""
        return self.deployed.get(stack, ())

    def with_hosts(self, stack: str, hosts: tuple[str, ...] | list[str]) -> State:
        """A copy where ``stack`` is on ``hosts`` (removed when empty); a stack recorded
        on a host is no longer paused there."""
        new = dict(self.deployed)
        if hosts:
            new[stack] = tuple(dict.fromkeys(hosts))
        else:
            new.pop(stack, None)
        paused = dict(self.paused)
        paused[stack] = tuple(h for h in self.paused_on(stack) if h not in hosts)
        return replace(self, deployed=new, paused=paused)

    def paused_on(self, stack: str) -> tuple[str, ...]:
        """Hosts where ``stack`` was taken down on purpose (``cf down``, ``cf stop``)."""
        return self.paused.get(stack, ())

    def with_paused(self, stack: str, hosts: tuple[str, ...] | list[str]) -> State:
        """A copy where ``stack`` is also paused on ``hosts``."""
        paused = dict(self.paused)
        paused[stack] = (*self.paused_on(stack), *hosts)
        return replace(self, paused=paused)

    def resumed(self, stack: str, hosts: tuple[str, ...] | None = None) -> State:
        """A copy where ``stack`` is no longer paused on ``hosts`` (default: anywhere)."""
        paused = dict(self.paused)
        paused[stack] = (
            () if hosts is None else tuple(h for h in self.paused_on(stack) if h not in hosts)
        )
        return replace(self, paused=paused)

    def data_left_on(self, stack: str) -> tuple[str, ...]:
        """Hosts holding an old copy of ``stack``'s data (left there by a move)."""
        return self.data_left.get(stack, ())

    def with_data_left(self, stack: str, hosts: tuple[str, ...] | list[str]) -> State:
        """A copy where ``stack``'s old data copies are on ``hosts`` (forgotten when empty)."""
        new = dict(self.data_left)
        new[stack] = tuple(hosts)
        return replace(self, data_left=new)

    def with_commit(self, commit: str | None) -> State:
        """A copy recording ``commit`` as the git commit last applied."""
        return replace(self, commit=commit)

    def without(self, stack: str) -> State:
        """A copy with ``stack`` removed (and no longer paused anywhere)."""
        return self.with_hosts(stack, ()).resumed(stack)

    def to_document(self) -> dict[str, Any]:
        """The on-disk form: one host as a plain string, several as a list."""
        deployed: dict[str, str | list[str]] = {
            stack: hosts[0] if len(hosts) == 1 else list(hosts)
            for stack, hosts in self.deployed.items()
        }
        document: dict[str, Any] = {"version": STATE_VERSION, "deployed": deployed}
        if self.data_left:
            document["data_left"] = {stack: list(h) for stack, h in self.data_left.items()}
        if self.paused:
            document["paused"] = {stack: list(h) for stack, h in self.paused.items()}
        if self.commit is not None:
            document["commit"] = self.commit
        return document


def render_state(state: State) -> str:
    """The state file's text: ``dump_yaml`` of ``to_document()``, written line by line when
    every name is a plain word (a write per step must not cost a YAML emitter run)."""
    tables = (state.deployed, state.data_left, state.paused)
    names = [stack for table in tables for stack in table]
    names += [h for table in tables for hosts in table.values() for h in hosts]
    listed = "".join(f"{n}\n" for n in names)
    if listed.count("\n") != len(names) or not _PLAIN_LINES.fullmatch(listed):
        return dump_yaml(state.to_document())
    lines = [f"version: {STATE_VERSION}", "deployed:" if state.deployed else "deployed: {}"]
    for stack, hosts in state.deployed.items():
        if len(hosts) == 1:
            lines.append(f"  {stack}: {hosts[0]}")
        else:
            lines += [f"  {stack}:", *(f"  - {h}" for h in hosts)]
    for key, table in (("data_left", state.data_left), ("paused", state.paused)):
        if table:
            lines.append(f"{key}:")
            for stack, hosts in table.items():
                lines += [f"  {stack}:", *(f"  - {h}" for h in hosts)]
    if state.commit is not None:  # quoted: all digits, or digits around one 'e', read as a number
        lines.append(f'commit: "{state.commit}"')
    return "\n".join(lines) + "\n"


def parse_state(text: str, path: Path) -> State:
    """Parse the state file's text; anything unexpected is a ``StateError``."""
    try:
        parsed = parse_yaml(text, path)
    except ConfigError as exc:
        raise StateError(_corrupt(path, str(exc))) from None
    if odds := odd_keys(parsed):  # `true: nuc` must not quietly become a stack named True
        odd = odds[0]
        line = f"line {odd.line}: " if odd.line is not None else ""
        why = f"{line}{odd.where}: key {odd.text} is {odd.kind}, not a name"
        raise StateError(_corrupt(path, why))
    raw = to_plain(parsed)
    if raw is None:
        return State()
    if not isinstance(raw, dict):
        raise StateError(_corrupt(path, "expected a mapping with 'version' and 'deployed'"))
    version = raw.get("version", STATE_VERSION)  # files from before versioning had none
    if version != STATE_VERSION:
        raise StateError(
            f"{path}: state file version {version!r} is not supported by this cf "
            f"(it understands version {STATE_VERSION})",
            hint="upgrade compose-farm, or restore a state file written by this version",
        )
    unknown = set(raw) - {"version", "deployed", "data_left", "paused", "commit"}
    if unknown:
        raise StateError(_corrupt(path, f"unknown keys: {', '.join(sorted(map(str, unknown)))}"))
    commit = raw.get("commit")
    if commit is not None and not (isinstance(commit, str) and _COMMIT.fullmatch(commit)):
        raise StateError(_corrupt(path, "commit: expected a git commit id (40 or 64 hex digits)"))
    deployed, data_left, paused = (
        _stack_hosts(raw, key, path) for key in ("deployed", "data_left", "paused")
    )
    return State(deployed, data_left, paused, commit)


def _stack_hosts(raw: Mapping[str, Any], key: str, path: Path) -> dict[str, tuple[str, ...]]:
    """One of the file's ``stack: host | [hosts]`` mappings, checked."""
    mapping = raw.get(key) or {}
    if not isinstance(mapping, dict):
        raise StateError(_corrupt(path, f"'{key}' must be a mapping of stack to host(s)"))
    result: dict[str, tuple[str, ...]] = {}
    for stack, hosts in mapping.items():
        names = [hosts] if isinstance(hosts, str) else hosts
        if not isinstance(stack, str) or name_problem(stack) is not None:
            raise StateError(_corrupt(path, f"{key}: bad stack name {stack!r}"))
        if not isinstance(names, list) or not all(isinstance(h, str) for h in names):
            raise StateError(_corrupt(path, f"{key}.{stack}: expected a host or list of hosts"))
        result[stack] = tuple(names)
    return result


def _corrupt(path: Path, why: str) -> str:
    return (
        f"{path}: the state file is unreadable ({why}). "
        "It was left untouched: fix or move it aside, then run `cf refresh` to rebuild it"
    )


class StateStore:
    """Reads and atomically rewrites one state file under an exclusive lock.

    The file is read anew every time (another cf may have changed it), but parsed
    only when its text differs from the last text read or written here: a command
    that reads and rewrites it once per stack must not parse it once per stack.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._depth = 0
        self._last: tuple[str, State] | None = None  # the text last read or written, parsed

    def read(self) -> State:
        """The current state (empty when the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(f"{self.path}: cannot read the state file: {exc}") from None
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        state = parse_state(text, self.path)
        self._last = (text, state)
        return state

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock (blocks until other cf processes release it).

        Re-entrant within one store, so a step may read-modify-write while an
        outer caller already holds the lock.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"{self.lock_path}: cannot create the state lock file: {exc.strerror}",
                hint="check that the config folder is writable",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth = 1
            yield
        finally:
            self._depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def modify(self, change: Callable[[State], State]) -> State:
        """Apply ``change`` to the current state and write the result, all under the lock."""
        with self.locked():
            current = self.read()
            new = change(current)
            if new != current or not self.path.exists():
                self._write(new)
            return new

    def update(self, stack: str, hosts: tuple[str, ...] | list[str]) -> State:
        """Record ``stack`` on ``hosts`` (forget it when empty); returns the new state."""
        return self.modify(lambda state: state.with_hosts(stack, hosts))

    def replace(self, state: State) -> None:
        """Write a whole new placement (``cf refresh``); refuses to replace an unreadable
        file. The record of old data copies is kept: only ``cf prune-data`` clears it. Pauses
        are kept but where the stack runs again (someone started it by hand)."""

        def placed(current: State) -> State:
            paused = {
                stack: tuple(h for h in hosts if h not in state.hosts_of(stack))
                for stack, hosts in current.paused.items()
            }
            return State(state.deployed, current.data_left, paused, current.commit)

        self.modify(placed)

    def _write(self, state: State) -> None:
        text = render_state(state)
        try:
            atomic_write(self.path, text)
        except OSError as exc:
            raise StateError(
                f"{self.path}: cannot write the state file: {exc.strerror or exc}. "
                "The previous state file is intact",
                hint="free disk space or make the folder writable, then run the command again",
            ) from None
        self._last = (text, state)
