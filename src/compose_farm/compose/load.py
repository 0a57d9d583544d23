"""Loading a stack's compose project into a ``ComposeProject``, as Compose would.

``load_compose`` reads the stack folder's environment files and compose files
(``environment.py``); ``build_project`` takes the main file's text from the
caller (the web editor validates text before it is saved) and reads the rest.
Variables come from the environment files and the ``environ`` the caller
passes (which wins, as in Compose); nothing here reads ``os.environ``.

Out of scope, and said so in ``warnings``: remote includes. ``-f`` and
``--env-file`` options do not exist here: cf runs ``docker compose`` without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from compose_farm.compose.assemble import Loader, Reader, read_file
from compose_farm.compose.dotenv import DotEnv
from compose_farm.compose.environment import ProjectEnv, profile_names, project_env
from compose_farm.compose.extract import (
    active_services,
    check_inactive,
    check_references,
    external_networks,
    project_name,
    service_info,
)
from compose_farm.compose.model import ComposeProject
from compose_farm.compose.yamltree import Map
from compose_farm.errors import ComposeFileError
from compose_farm.names import name_problem


def load_compose(
    compose_dir: Path, stack: str, environ: Mapping[str, str], read: Reader = read_file
) -> ComposeProject:
    """Read ``{compose_dir}/{stack}``'s environment and compose files and build the project
    (``read`` reads each compose file: ``inputs.py`` records which)."""
    problem = name_problem(stack)
    if problem is not None:
        raise ComposeFileError(f"stack name {stack!r} {problem}")
    env = project_env(compose_dir.absolute(), stack, environ)
    return _assemble(stack, env, environ, {}, read)


def build_project(
    *, stack: str, path: Path, text: str, dotenv: DotEnv, environ: Mapping[str, str]
) -> ComposeProject:
    """The project whose main compose file, at ``path``, holds ``text``."""
    variables = {**dotenv.values, **environ}
    env = ProjectEnv(path.parent, (path,), dotenv, variables)
    return _assemble(stack, env, environ, {path: text})


def _assemble(
    stack: str,
    env: ProjectEnv,
    environ: Mapping[str, str],
    texts: dict[Path, str],
    read: Reader = read_file,
) -> ComposeProject:
    seen: list[str] = list(texts.values())

    def reading(file: Path) -> str:
        text = read(file)
        seen.append(text)
        return text

    loader = Loader(env.variables, texts, [], reading)
    data: Map = loader.load_project(env.files, env.project_dir)
    path = env.files[0]
    name = project_name(data, path, env.project_dir.name, env.variables)
    if "COMPOSE_PROJECT_NAME" not in env.variables and any(
        "COMPOSE_PROJECT_NAME" in text for text in seen
    ):
        # Compose interpolates ${COMPOSE_PROJECT_NAME} with the project's name (from
        # `name:`, else the folder) when the environment does not set it: read it again
        variables = {**env.variables, "COMPOSE_PROJECT_NAME": name}
        loader = Loader(variables, texts, [], read)
        data = loader.load_project(env.files, env.project_dir)
    profiles = profile_names(env.variables.get("COMPOSE_PROFILES", ""))
    active = active_services(data, profiles)
    check_inactive(data, {n: s for n, s in (data.get("services") or {}).items() if n not in active})
    check_references(data, active)
    home = environ.get("HOME")
    services = {n: service_info(data, n, s, env.project_dir, home) for n, s in active.items()}
    used = {network for s in services.values() for network in s.networks}
    networks, network_warnings = external_networks(data, used, name)
    return ComposeProject(
        stack=stack,
        path=path,
        project_name=name,
        services=services,
        external_networks=networks,
        env_values=dict(env.dotenv.values),
        warnings=list(dict.fromkeys([*env.dotenv.warnings, *loader.warnings, *network_warnings])),
        document=data,
        files=env.files,
        profiles=profiles,
    )
