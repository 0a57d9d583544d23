"""What ``docker compose`` run in a stack's folder takes from its environment and ``.env``.

Checked against ``docker compose`` v2.40 run with no ``-f``, as cf runs it:

* The environment files: ``COMPOSE_ENV_FILES`` (comma-separated, later files
  win) or else the folder's ``.env``, unless ``COMPOSE_DISABLE_ENV_FILE`` is
  true; a ``.env`` that is a folder is ignored. The process environment wins
  over every file.
* ``COMPOSE_FILE``: the files, split on ``COMPOSE_PATH_SEPARATOR`` (``:``),
  relative to the folder; merged in order. Without it, the folder's compose
  file and then its override file (``compose.override.yaml``...).
* The project folder is the first file's folder: relative paths resolve there,
  and its own ``.env`` (when it is another folder) fills in unset variables.
* ``COMPOSE_PROFILES``: comma-separated active profiles (``*`` for all).
* ``COMPOSE_PROJECT_NAME``: the project name, which must already be valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from compose_farm.compose.discovery import OVERRIDE_FILE_NAMES, find_compose_file
from compose_farm.compose.dotenv import DotEnv, read_dotenv
from compose_farm.compose.mounts import clean
from compose_farm.errors import ComposeFileError

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})


@dataclass(frozen=True)
class ProjectEnv:
    """The variables, files and profiles of one stack, as Compose will see them."""

    folder: Path
    files: tuple[Path, ...]
    dotenv: DotEnv
    variables: Mapping[str, str]

    @property
    def project_dir(self) -> Path:
        return self.files[0].parent

    @property
    def profiles(self) -> frozenset[str]:
        return profile_names(self.variables.get("COMPOSE_PROFILES", ""))


def profile_names(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.split(",") if p.strip())


def project_env(compose_dir: Path, stack: str, environ: Mapping[str, str]) -> ProjectEnv:
    """Read the stack folder's environment files and find its compose files."""
    folder = compose_dir / stack
    dotenv = env_files(folder, environ)
    variables = {**dotenv.values, **environ}
    files = compose_files(folder, stack, compose_dir, variables)
    project_dir = files[0].parent
    if project_dir != folder and "COMPOSE_ENV_FILES" not in environ:
        extra = read_dotenv(project_dir / ".env", variables)
        variables = {**extra.values, **variables}
        dotenv = DotEnv({**extra.values, **dotenv.values}, (*dotenv.warnings, *extra.warnings))
    return ProjectEnv(folder, files, dotenv, variables)


def env_files(folder: Path, environ: Mapping[str, str]) -> DotEnv:
    """The variables of the environment files Compose reads in ``folder``."""
    if environ.get("COMPOSE_DISABLE_ENV_FILE", "") in _TRUE:
        return DotEnv()
    named = environ.get("COMPOSE_ENV_FILES")
    if not named:
        return read_dotenv(folder / ".env", environ)
    values: dict[str, str] = {}
    warnings: list[str] = []
    for name in (n.strip() for n in named.split(",")):
        path = folder / name
        if not path.is_file():
            raise ComposeFileError(f"{path}: COMPOSE_ENV_FILES names a file that does not exist")
        found = read_dotenv(path, {**values, **environ})
        values.update(found.values)
        warnings += found.warnings
    return DotEnv(values, tuple(warnings))


def compose_files(
    folder: Path, stack: str, compose_dir: Path, variables: Mapping[str, str]
) -> tuple[Path, ...]:
    """``COMPOSE_FILE``'s files, else the folder's compose file and its override file."""
    listed = variables.get("COMPOSE_FILE")
    if listed is None:
        main = find_compose_file(compose_dir, stack)
        override = [folder / n for n in OVERRIDE_FILE_NAMES if (folder / n).is_file()][:1]
        return (main, *override)
    separator = variables.get("COMPOSE_PATH_SEPARATOR") or ":"
    files: list[Path] = []
    for name in listed.split(separator):
        path = folder / name
        if not name or not path.is_file():
            why = "an empty path" if not name else f"{name!r}, which is not a file"
            raise ComposeFileError(f"{folder}: COMPOSE_FILE names {why}")
        files.append(Path(clean(str(path.absolute()))))
    return tuple(files)
