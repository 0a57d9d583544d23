"""The image digest log, ``dockerfarm-log.toml`` beside the config.

Every ``cf refresh`` records which image (by registry digest) each stack runs
on each host. An entry is (stack, host, image, digest) with the first and last
time it was seen; new sightings merge into the history already in the file,
so the log answers "what was running here last week?". ``cf outdated`` keeps
its last results, with when they were checked, under ``updates``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w

from compose_farm.errors import StateError
from compose_farm.facts import Facts
from compose_farm.fsutil import atomic_write

LOG_VERSION = 1


@dataclass(frozen=True)
class DigestRecord:
    """One image digest seen for a stack on a host, and when."""

    stack: str
    host: str
    image: str
    digest: str
    first_seen: str
    last_seen: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two sightings the same entry."""
        return (self.stack, self.host, self.image, self.digest)


def pick_digest(image: str, repo_digests: Iterable[str], image_id: str) -> str:
    """The ``sha256:...`` registry digest for ``image``; the image id when it has none."""
    repo = _repository(image)
    digests = list(repo_digests)
    for entry in digests:
        name, _, digest = entry.partition("@")
        if name == repo:
            return digest
    if digests:
        return digests[0].partition("@")[2]
    return image_id


def _repository(image: str) -> str:
    """``host:5000/a/b:tag`` -> ``host:5000/a/b`` (a registry port is not a tag)."""
    name = image.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def sightings(facts: Facts, now: str, stacks: Iterable[str]) -> list[DigestRecord]:
    """Records for every running container of ``stacks`` (those cf manages)."""
    managed = set(stacks)
    seen: dict[tuple[str, str, str, str], DigestRecord] = {}
    for host, host_facts in facts.hosts.items():
        for container in host_facts.containers:
            stack = facts.stack_of.get((host, container.id))
            info = host_facts.images.get(container.id)
            if stack not in managed or info is None or not container.running:
                continue
            image = info.name or container.image
            digest = pick_digest(image, info.repo_digests, info.image_id)
            assert stack is not None
            record = DigestRecord(stack, host, image, digest, now, now)
            seen[record.key] = record
    return list(seen.values())


def merge(history: Iterable[DigestRecord], new: Iterable[DigestRecord]) -> list[DigestRecord]:
    """History plus new sightings: known entries get a later ``last_seen``."""
    merged = {r.key: r for r in history}
    for record in new:
        old = merged.get(record.key)
        merged[record.key] = replace(old, last_seen=record.last_seen) if old else record
    return sorted(merged.values(), key=lambda r: (r.stack, r.host, r.first_seen, r.image))


def read_log(path: Path) -> list[DigestRecord]:
    """The records in ``path`` (none when it does not exist)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StateError(
            f"{path}: the digest log is unreadable ({exc}); it was left untouched",
            hint="fix or move it aside, then run `cf refresh` again",
        ) from None
    try:
        return [
            DigestRecord(**{k: str(entry[k]) for k in _FIELDS}) for entry in data.get("images", [])
        ]
    except (KeyError, TypeError) as exc:
        raise StateError(f"{path}: the digest log has a malformed entry ({exc})") from None


_FIELDS = ("stack", "host", "image", "digest", "first_seen", "last_seen")


def read_table(path: Path, name: str) -> list[dict[str, str]]:
    """The rows of the log's table ``name`` (``updates``, ``previous``): none when the
    file or the table is missing; rows that are not tables of text are skipped."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StateError(f"{path}: the digest log is unreadable ({exc})") from None
    rows = data.get(name, [])
    if not isinstance(rows, list):
        return []
    return [{str(k): str(v) for k, v in row.items()} for row in rows if isinstance(row, dict)]


def write_log(
    path: Path,
    records: Iterable[DigestRecord] | None = None,
    updates: Iterable[Mapping[str, str]] | None = None,
    previous: Iterable[Mapping[str, str]] | None = None,
) -> None:
    """Write the log atomically: ``records`` (the ``images`` history), ``updates`` (the
    last ``cf outdated``) and ``previous`` (what ``cf rollback`` brings back); a table
    given as ``None`` is kept as the file has it."""
    try:
        old = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        old = {}
    document: dict[str, Any] = {"version": LOG_VERSION}
    given: dict[str, list[dict[str, Any]] | None] = {
        "images": None
        if records is None
        else [{k: getattr(r, k) for k in _FIELDS} for r in records],
        "updates": None if updates is None else [dict(u) for u in updates],
        "previous": None if previous is None else [dict(p) for p in previous],
    }
    for name, rows in given.items():
        if rows is not None:
            document[name] = rows
        elif isinstance(old.get(name), list):
            document[name] = old[name]
    try:
        atomic_write(path, tomli_w.dumps(document))
    except OSError as exc:
        raise StateError(f"{path}: cannot write the digest log: {exc.strerror or exc}") from None
