"""Finding a stack's compose file, and the stack folders under the compose folder.

Compose's own default names are tried in Compose's order; the first that exists
wins. Override files (``compose.override.yaml``) are not part of the model: see
``load.py``.
"""

from __future__ import annotations

from pathlib import Path

from compose_farm.errors import ComposeFileError

COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILE_NAMES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


def compose_file_in(folder: Path) -> Path | None:
    """The compose file Compose would pick in ``folder``, or ``None``."""
    for name in COMPOSE_FILE_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find_compose_file(compose_dir: Path, stack: str) -> Path:
    """The compose file of ``stack``: ``{compose_dir}/{stack}/compose.yaml`` or an alias."""
    folder = compose_dir / stack
    found = compose_file_in(folder)
    if found is not None:
        return found
    tried = ", ".join(COMPOSE_FILE_NAMES)
    if not folder.is_dir():
        raise ComposeFileError(f"{folder}: stack folder not found (looked for {tried})")
    raise ComposeFileError(f"{folder}: no compose file found (tried {tried})")


def list_stack_dirs(compose_dir: Path) -> list[str]:
    """Names of the sub-folders of ``compose_dir`` that hold a compose file, sorted."""
    if not compose_dir.is_dir():
        raise ComposeFileError(f"{compose_dir}: compose folder not found")
    try:
        children = sorted(compose_dir.iterdir())
    except OSError as exc:
        raise ComposeFileError(f"{compose_dir}: cannot list the compose folder: {exc}") from None
    return [c.name for c in children if c.is_dir() and compose_file_in(c) is not None]
