"""Folder listings and what to send: the pure part of sync and data moves.

A listing maps each relative path under a folder to an ``Entry`` (kind, size,
modification time, link target). The same listing comes from this machine
(``local_listing``) and from a host (``listing.LIST_PROGRAM``), so comparing
two folders is comparing two dictionaries: a file is sent when it is missing
on the other side or its size or modification time differ (rsync's quick
check). Transfers keep modification times, so a second comparison right after
a transfer finds nothing to send.

Modification times are kept in nanoseconds. Host-to-host copies (GNU tar's
POSIX format on both ends) keep them exactly and compare them exactly; a sync
from this machine compares whole seconds, which is what every tar keeps.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

Kind = Literal["f", "d", "l"]


@dataclass(frozen=True)
class Entry:
    """One path in a folder listing."""

    kind: Kind
    size: int = 0
    mtime: int = 0  # nanoseconds since the epoch
    target: str = ""  # for symbolic links


SECOND = 1_000_000_000
NANOSECOND = 1


Listing = Mapping[str, Entry]


@dataclass(frozen=True)
class Changes:
    """What makes the destination match the source."""

    send: tuple[str, ...] = ()  # files, links and (empty) folders to send, parents first
    delete: tuple[str, ...] = ()  # paths to remove on the destination, deepest first
    bytes: int = 0  # the size of the files in ``send``

    def __bool__(self) -> bool:
        return bool(self.send or self.delete)

    def summary(self, *, done: bool = False) -> str:
        """``3 paths (1.2 MB) to send, 1 to delete``; ``done``: ``sent 3 paths (1.2 MB),
        deleted 1``. ``nothing to send`` / ``nothing changed`` when empty."""
        if not self:
            return "nothing changed" if done else "nothing to send"
        parts = []
        if self.send:
            what = f"{count(len(self.send), 'path')} ({human_bytes(self.bytes)})"
            parts.append(f"sent {what}" if done else f"{what} to send")
        if self.delete:
            parts.append(f"deleted {len(self.delete)}" if done else f"{len(self.delete)} to delete")
        return ", ".join(parts)


def is_excluded(path: str, patterns: Sequence[str]) -> bool:
    """True when ``path``, one of its components, or (for a pattern with a slash) one
    of its parent folders matches one of the shell ``patterns``."""
    parts = PurePosixPath(path).parts
    for pattern in patterns:
        pattern = pattern.strip("/")
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if "/" in pattern:
            parents = ("/".join(parts[:i]) for i in range(1, len(parts)))
            if any(fnmatch.fnmatchcase(parent, pattern) for parent in parents):
                return True
        elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def changes(
    source: Listing,
    destination: Listing,
    *,
    delete: bool,
    exclude: Sequence[str] = (),
    precision: int = SECOND,
) -> Changes:
    """The paths to send (and, with ``delete``, to remove) so ``destination`` matches;
    modification times are compared to ``precision`` nanoseconds."""
    send: list[str] = []
    size = 0
    for path in sorted(source):
        if is_excluded(path, exclude):
            continue
        entry = source[path]
        there = destination.get(path)
        if _same(entry, there, precision):
            continue
        send.append(path)
        if entry.kind == "f":
            size += entry.size
    removed: list[str] = []
    if delete:
        for path in sorted(destination, reverse=True):
            if path in source or is_excluded(path, exclude):
                continue
            removed.append(path)
    # A path whose kind changed (a file that became a folder) is removed first.
    replaced = [p for p in send if p in destination and destination[p].kind != source[p].kind]
    return Changes(tuple(send), tuple(sorted(set(removed) | set(replaced), reverse=True)), size)


def _same(entry: Entry, there: Entry | None, precision: int = SECOND) -> bool:
    if there is None or there.kind != entry.kind:
        return False
    if entry.kind == "d":
        return True
    if entry.kind == "l":
        return entry.target == there.target
    return entry.size == there.size and entry.mtime // precision == there.mtime // precision


def _nanoseconds(text: str) -> int:
    """``1700000000.123456789`` (find's ``%T@``) as an exact integer of nanoseconds."""
    whole, _, fraction = text.partition(".")
    return int(whole) * SECOND + int((fraction + "000000000")[:9])


def totals(listing: Listing) -> tuple[int, int]:
    """(number of files, their total size)."""
    files = [e for e in listing.values() if e.kind == "f"]
    return len(files), sum(e.size for e in files)


def parse_listing(text: str) -> dict[str, Entry]:
    """Parse ``LIST_PROGRAM``'s output: records of ``KIND SIZE MTIME``, path, link target,
    each field ending in NUL."""
    fields = text.split("\0")
    listing: dict[str, Entry] = {}
    for i in range(0, len(fields) - 2, 3):
        head, path, target = fields[i], fields[i + 1], fields[i + 2]
        parts = head.strip().split()
        if len(parts) != 3 or not path or parts[0] not in ("f", "d", "l"):
            continue
        kind, size, mtime = parts
        if path == ".":
            continue  # the folder itself: it exists
        listing[path] = Entry(
            kind=kind,  # type: ignore[arg-type]
            size=int(size) if kind == "f" else 0,
            mtime=_nanoseconds(mtime) if kind == "f" else 0,
            target=target if kind == "l" else "",
        )
    return listing


def listed_at(text: str) -> int | None:
    """The host's clock when ``LIST_PROGRAM`` listed the folder (from the folder's own
    record); ``None`` when the folder does not exist."""
    head, sep, rest = text.partition("\0")
    parts = head.split()
    if not sep or not rest.startswith(".\0") or len(parts) != 3 or parts[0] != "d":
        return None
    return _nanoseconds(parts[2])


def local_listing(root: Path, exclude: Sequence[str] = ()) -> dict[str, Entry]:
    """The listing of ``root`` on this machine (empty when it does not exist)."""
    listing: dict[str, Entry] = {}
    if not root.is_dir():
        return listing
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in [*dirs, *files]:
            full = base / name
            rel = full.relative_to(root).as_posix()
            if "\n" in rel or is_excluded(rel, exclude):
                continue
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                listing[rel] = Entry("l", target=str(full.readlink()))
            elif stat.S_ISDIR(info.st_mode):
                listing[rel] = Entry("d")
            elif stat.S_ISREG(info.st_mode):
                listing[rel] = Entry("f", info.st_size, info.st_mtime_ns)
        dirs[:] = [
            d for d in dirs if not is_excluded((base / d).relative_to(root).as_posix(), exclude)
        ]
    return listing


_UNESCAPE = re.compile(r"\\(.)")


def parse_checksums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``HASH  ./path`` per line, GNU escapes) as path -> hash."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        digest, sep, name = line.partition("  ")
        if not sep:
            continue
        if escaped:
            name = _UNESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], name)
        sums[name.removeprefix("./")] = digest
    return sums


def human_bytes(size: int) -> str:
    """``52.4 MB``: decimal units, one decimal place above bytes."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def count(n: int, word: str) -> str:
    """``1 file``, ``3 files``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class Drift:
    """How a host's copy of a folder differs from the local one."""

    changed: tuple[str, ...] = ()  # on both sides, different
    missing: tuple[str, ...] = ()  # local only
    extra: tuple[str, ...] = ()  # on the host only

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.extra)

    def summary(self, limit: int = 5) -> str:
        """``changed: compose.yaml; missing on the host: .env`` (at most ``limit`` names each)."""
        parts = []
        for label, paths in (
            ("changed", self.changed),
            ("missing on the host", self.missing),
            ("only on the host", self.extra),
        ):
            if paths:
                shown = ", ".join(paths[:limit])
                more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
                parts.append(f"{label}: {shown}{more}")
        return "; ".join(parts) or "in sync"


def drift(local: Listing, remote: Listing, exclude: Sequence[str] = ()) -> Drift:
    """Compare a local folder's listing with a host's copy (excluded paths ignored)."""
    names = [p for p in sorted(set(local) | set(remote)) if not is_excluded(p, exclude)]
    changed = [p for p in names if p in local and p in remote and not _same(local[p], remote[p])]
    missing = [p for p in names if p in local and p not in remote]
    extra = [p for p in names if p in remote and p not in local]
    return Drift(tuple(changed), tuple(missing), tuple(extra))
