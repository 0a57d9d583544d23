"""Loading a stack's compose file into a ``ComposeProject``.

``load_compose`` does the file reads; ``build_project`` is the pure rest, so
tests feed it text. Variables come from the stack's ``.env`` and the
``environ`` the caller passes (the process environment wins, as in Compose);
nothing here reads ``os.environ``.

Out of scope: ``extends``, ``include``, several ``-f`` files, ``--env-file``
and override files (``compose.override.yaml``, which Compose merges
automatically when it picks the default file; a warning says when one exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from compose_farm.compose.discovery import OVERRIDE_FILE_NAMES, find_compose_file
from compose_farm.compose.document import parse_document
from compose_farm.compose.dotenv import DotEnv, read_dotenv
from compose_farm.compose.extract import external_networks, project_name, services
from compose_farm.compose.model import ComposeProject
from compose_farm.errors import ComposeFileError
from compose_farm.names import name_problem


def load_compose(compose_dir: Path, stack: str, environ: Mapping[str, str]) -> ComposeProject:
    """Read ``{compose_dir}/{stack}``'s compose file and ``.env`` and build the project."""
    problem = name_problem(stack)
    if problem is not None:
        raise ComposeFileError(f"stack name {stack!r} {problem}")
    path = find_compose_file(compose_dir.absolute(), stack)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeFileError(f"{path}: cannot read the compose file: {exc}") from None
    dotenv = read_dotenv(path.parent / ".env", environ)
    overrides = [path.parent / n for n in OVERRIDE_FILE_NAMES if (path.parent / n).is_file()]
    project = build_project(stack=stack, path=path, text=text, dotenv=dotenv, environ=environ)
    if not overrides:
        return project
    notes = [f"{o}: override files are not read by Compose Farm" for o in overrides]
    return replace(project, warnings=[*project.warnings, *notes])


def build_project(
    *, stack: str, path: Path, text: str, dotenv: DotEnv, environ: Mapping[str, str]
) -> ComposeProject:
    """The project for compose ``text`` read from ``path`` (its folder is the project folder)."""
    variables = {**dotenv.values, **environ}
    doc = parse_document(text, path, variables)
    networks, network_warnings = external_networks(doc)
    return ComposeProject(
        stack=stack,
        path=path,
        project_name=project_name(doc, path.parent.name, variables),
        services=services(doc, path.parent, environ.get("HOME")),
        external_networks=networks,
        env_values=dict(dotenv.values),
        warnings=[*dotenv.warnings, *doc.warnings, *network_warnings],
        document=doc.data,
    )
