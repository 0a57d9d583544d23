"""The files a stack's compose project is made of: what drift fingerprints on the host.

Every file Compose reads for the project: the compose files (override, ``include``
and ``extends`` targets too), the project's ``.env`` and every service's
``env_file``; and, so that a file appearing later is noticed, each compose-file
name that is absent from the stack folder. Reading a project costs a few
milliseconds; at hundreds of stacks that is most of a no-op ``cf apply``, so
the list is kept in ``$XDG_CACHE_HOME/compose-farm/inputs/<stack>.json`` with
each file's size and modification time, and read again only when one of those
changed (a ``stat`` per file).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compose_farm.compose.assemble import read_file
from compose_farm.compose.discovery import COMPOSE_FILE_NAMES, OVERRIDE_FILE_NAMES
from compose_farm.compose.load import load_compose
from compose_farm.errors import ComposeFileError
from compose_farm.fsutil import atomic_write

_ABSENT = (-1, -1)


def _stat(path: str) -> tuple[int, int]:
    try:
        found = Path(path).stat()
    except OSError:
        return _ABSENT
    return (found.st_size, found.st_mtime_ns)


def _cache_dir(environ: Mapping[str, str]) -> Path:
    xdg = Path(environ.get("XDG_CACHE_HOME", ""))
    base = xdg if xdg.is_absolute() else Path.home() / ".cache"
    return base / "compose-farm" / "inputs"


def _env_files(document: Mapping[str, Any], folder: Path) -> list[str]:
    found: list[str] = []
    for service in (document.get("services") or {}).values():
        if not isinstance(service, Mapping):
            continue
        value = service.get("env_file")
        entries = value if isinstance(value, list) else [] if value is None else [value]
        for entry in entries:
            path = entry.get("path") if isinstance(entry, Mapping) else entry
            if isinstance(path, str) and path:
                found.append(str(folder / path))
    return found


def _regular(path: Path) -> None:
    """Refuse a file that is there but is not a regular file (a FIFO would block the
    read, here and for whoever reads it next): such a stack has no list."""
    if path.exists() and not path.is_file():
        raise ComposeFileError(f"{path}: not a regular file")


def _read(compose_dir: Path, stack: str, environ: Mapping[str, str]) -> list[str]:
    read: list[str] = []

    def recording(path: Path) -> str:
        _regular(path)
        read.append(str(path))
        return read_file(path)

    folder = compose_dir.absolute() / stack
    names = (*COMPOSE_FILE_NAMES, *OVERRIDE_FILE_NAMES, ".env")
    for name in names:
        _regular(folder / name)
    project = load_compose(compose_dir, stack, environ, recording)
    candidates = [str(folder / n) for n in names]
    env_files = _env_files(project.document, project.path.parent)
    return list(dict.fromkeys([*read, *env_files, *candidates]))


def project_inputs(
    compose_dir: Path, stack: str, environ: Mapping[str, str]
) -> tuple[str, ...] | None:
    """The files ``stack``'s project reads (and the compose-file names it lacks), or
    ``None`` when the project cannot be read on this machine."""
    cache = _cache_dir(environ) / f"{stack}.json"
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        kept = json.loads(cache.read_text(encoding="utf-8"))
        files: dict[str, list[int]] = kept["files"]
        if kept.get("dir") == str(compose_dir) and all(
            tuple(v) == _stat(p) for p, v in files.items()
        ):
            return tuple(files)
    try:
        paths = _read(compose_dir, stack, environ)
    except (ComposeFileError, OSError):
        return None
    record = {"dir": str(compose_dir), "files": {p: list(_stat(p)) for p in paths}}
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache, json.dumps(record))
    return tuple(paths)
