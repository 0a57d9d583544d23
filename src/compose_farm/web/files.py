"""The editors' files: which ones may be touched, validation, atomic saves with a backup.

The UI edits exactly two kinds of file: the config, and a stack's compose file
or ``.env`` in its own folder. Any other name, a ``..``, a symlink that leads
out of the folder, or a stack folder that is itself a symlink (to another
stack's folder, say) is refused before anything is read or written. The
previous version goes to cf's own backups folder on this machine
(``compose_farm.backups``), never into the stack folder.

Everything here blocks (file reads, YAML parsing): the routes call it in a
worker thread, never on the event loop.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from compose_farm.backups import DOTENV, BackupRefused, Backups
from compose_farm.compose import COMPOSE_FILE_NAMES, build_project, parse_dotenv, read_dotenv
from compose_farm.config import Config, parse_config
from compose_farm.errors import ComposeFileError, ConfigError, FarmError
from compose_farm.fsutil import atomic_write
from compose_farm.names import name_problem
from compose_farm.status import ExitStatus
from compose_farm.yamlio import parse_yaml

STACK_FILES = (*COMPOSE_FILE_NAMES, DOTENV)


class FileRefused(FarmError):
    """A path the editors may not reach."""

    exit_code = ExitStatus.USAGE


def stack_file(config: Config, stack: str, name: str) -> Path:
    """The path of ``name`` in ``stack``'s folder, after every check."""
    if stack not in config.stacks or name_problem(stack) is not None:
        raise FileRefused(f"unknown stack {stack!r}")
    if name not in STACK_FILES:
        raise FileRefused(f"{name!r} is not an editable file (allowed: {', '.join(STACK_FILES)})")
    root = Path(str(config.compose_dir)).resolve()
    folder = Path(str(config.stack_dir(stack)))
    if folder.resolve().parent != root:
        raise FileRefused(f"{folder} leads outside {root}")
    if folder.is_symlink() or folder.resolve().name != stack:
        # e.g. stacks/e -> b: a save to e's .env would change stack b.
        raise FileRefused(
            f"{folder} is a symlink to {folder.resolve()}: the editors change only a "
            "stack's own folder; edit the files there, or make it a real folder"
        )
    path = folder / name
    if path.is_symlink() and path.resolve().parent != folder.resolve():
        raise FileRefused(f"{path} is a link to a file outside the stack folder")
    return path


def read_text(path: Path) -> str:
    """A file's text, or empty when it does not exist yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRefused(f"{path}: cannot read: {exc}") from None


def validate_stack_file(config: Config, stack: str, name: str, text: str) -> None:
    """Parse ``text`` as Compose would; raise ``ComposeFileError`` naming the line."""
    path = stack_file(config, stack, name)
    if name == ".env":
        parse_dotenv(text, path, {})
        return
    dotenv = read_dotenv(path.parent / ".env", {})
    project = build_project(stack=stack, path=path, text=text, dotenv=dotenv, environ={})
    services = project.document.get("services") or {}
    for service_name, service in services.items():
        if not isinstance(service, dict):
            continue
        where = f"{path}: services.{service_name}"
        if "image" not in service and "build" not in service and "extends" not in service:
            raise ComposeFileError(f"{where}: needs an `image` or a `build`")
        environment = service.get("environment")
        if environment is not None and not isinstance(environment, dict | list):
            raise ComposeFileError(f"{where}.environment: must be a mapping or a list")


def validate_config(path: Path, text: str) -> None:
    """Parse ``text`` as the config; raise ``ConfigError`` naming the line."""
    raw = parse_yaml(text, path)
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping of keys", path=path)
    parse_config(raw, path)


def save(
    path: Path, text: str, backups: Backups, shelf: str, *, now: float | None = None
) -> Path | None:
    """Keep the current file (if any) in ``backups`` (its ``shelf``: the stack, or
    ``backups.CONFIG``), then write ``text`` atomically; the backup's path.

    The file keeps its mode; a ``.env`` made here is 0600 (it holds passwords).
    """
    backup = backups.keep(shelf, path, now=now)
    try:
        atomic_write(path, text, default_mode=0o600 if path.name == DOTENV else 0o644)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot write: {exc}") from None
    return backup


@dataclass(frozen=True)
class Kept:
    """A kept previous version of an edited file: ``id`` is its name in the backups
    folder, the only way the browser names it."""

    id: str
    saved: str  # when it was replaced, UTC, as "2026-12-02 05:31:07"


def kept(backups: Backups, shelf: str, path: Path) -> list[Kept]:
    """The kept versions of ``path`` on ``shelf``, newest first."""
    found = []
    for copy in reversed(backups.copies(shelf, path.name)):
        stamp = copy.name[len(path.name) + 1 :].split(".")[0]  # 20261202-053107
        saved = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"
        found.append(Kept(copy.name, saved))
    return found


def read_kept(backups: Backups, shelf: str, path: Path, kept_id: str) -> tuple[str, str]:
    """The text of the kept version ``kept_id`` of ``path`` and a unified diff from it
    to the file as it is now. ``kept_id`` must be one of ``kept``'s: it is looked up,
    never joined onto a path."""
    by_id = {c.name: c for c in backups.copies(shelf, path.name)}
    copy = by_id.get(kept_id)
    if copy is None:
        raise FileRefused(f"no kept version {kept_id!r} of {path.name}")
    text = read_text(copy)
    now = read_text(path)
    diff = difflib.unified_diff(
        text.splitlines(keepends=True),
        now.splitlines(keepends=True),
        fromfile=f"{path.name} (kept {kept_id})",
        tofile=f"{path.name} (now)",
    )
    return text, "".join(diff)


__all__ = [
    "BackupRefused",
    "ComposeFileError",
    "FileRefused",
    "Kept",
    "kept",
    "read_kept",
    "read_text",
    "save",
    "stack_file",
    "validate_config",
    "validate_stack_file",
]
