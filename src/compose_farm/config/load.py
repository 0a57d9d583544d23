"""Reading the config: parse, check the shape, check the references, normalise.

Each stage reports every problem it finds at once, with file, line and key;
a later stage runs only on a file the earlier ones accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from compose_farm.config.checks import check_references
from compose_farm.config.models import ALL_HOSTS, HOOK_EVENTS, Config, StackConfig
from compose_farm.config.problems import Locator, pydantic_problems
from compose_farm.config.schema import RawConfig, RawStack
from compose_farm.errors import ConfigError, Problem
from compose_farm.yamlio import line_of, odd_keys, read_yaml_file, to_plain


def load_config(path: Path) -> Config:
    """Read, validate and normalise the config at ``path``."""
    raw = read_yaml_file(path, what="config file")
    if raw is None:
        raise ConfigError(
            "the config file is empty", path=path, hint="run `cf config init` for a starting point"
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "the config must be a mapping of keys (compose_dir, hosts, stacks)", path=path
        )
    return parse_config(raw, path)


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    """Validate already-parsed YAML (ruamel nodes keep line numbers for messages)."""
    odd = [
        Problem(
            f'key {found.text} is read as {found.kind}, not as text: quote it: "{found.text}"',
            path,
            found.line,
            found.where,
        )
        for found in odd_keys(raw)
    ]
    if odd:
        raise ConfigError(problems=odd)
    data = dict(to_plain(raw))
    stacks_key = "stacks"
    if "services" in data:
        if "stacks" in data:
            raise ConfigError(
                "use either 'stacks' or 'services', not both",
                path=path,
                line=line_of(raw, ["services"]),
                key="services",
            )
        data["stacks"] = data.pop("services")
        stacks_key = "services"
    for key in ("stacks", "hosts"):  # `hosts:` with nothing under it is reported as empty
        if key in data and data[key] is None:
            data[key] = {}

    at = Locator(raw, path, stacks_key)
    try:
        parsed = RawConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems=pydantic_problems(exc.errors(), at)) from None
    problems = check_references(parsed, at)
    if problems:
        raise ConfigError(problems=problems)
    return _normalise(parsed, path)


def _normalise(cfg: RawConfig, path: Path) -> Config:
    compose_dir = PurePosixPath(cfg.compose_dir)
    stacks = {
        name: _stack(name, stack, cfg, compose_dir / name) for name, stack in cfg.stacks.items()
    }
    traefik_file = None
    if cfg.traefik_file:
        traefik_file = Path(cfg.traefik_file).expanduser()
        if not traefik_file.is_absolute():
            traefik_file = path.resolve().parent / traefik_file
    return Config(
        path=path,
        compose_dir=compose_dir,
        hosts=cfg.hosts,
        stacks=stacks,
        traefik_file=traefik_file,
        traefik_stack=cfg.traefik_stack,
        ssh=cfg.ssh,
        sync=cfg.sync,
        web=cfg.web,
        git=cfg.git,
    )


def _stack(name: str, stack: RawStack, cfg: RawConfig, folder: PurePosixPath) -> StackConfig:
    """One stack with ``all`` expanded, data paths absolute and farm hooks first."""
    farm_hooks = cfg.hooks or {}
    own_hooks = stack.hooks or {}
    hooks = {
        event: farm_hooks.get(event, ()) + own_hooks.get(event, ())
        for event in HOOK_EVENTS
        if farm_hooks.get(event) or own_hooks.get(event)  # `after_up:` alone: none
    }
    if stack.hosts == ALL_HOSTS:
        hosts, all_hosts = tuple(cfg.hosts), True
    else:
        hosts = (stack.hosts,) if isinstance(stack.hosts, str) else tuple(stack.hosts)
        all_hosts = False
    return StackConfig(
        name=name,
        hosts=hosts,
        all_hosts=all_hosts,
        sync=cfg.sync.enabled if stack.sync is None else stack.sync,
        data=tuple(folder / d if not d.startswith("/") else PurePosixPath(d) for d in stack.data),
        hooks=hooks,
    )
