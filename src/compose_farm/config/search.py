"""Where the config file is looked for: ``-c``, ``$CF_CONFIG``, ``./``, then XDG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from compose_farm.errors import ConfigError

CONFIG_FILENAME = "compose-farm.yaml"


def config_candidates(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    """Where to look for the config, in order: ``-c``, ``$CF_CONFIG``, ``./``, XDG."""
    if explicit:
        return [Path(explicit).expanduser()]
    if environ.get("CF_CONFIG"):
        return [Path(environ["CF_CONFIG"]).expanduser()]
    xdg = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return [Path.cwd() / CONFIG_FILENAME, Path(xdg).expanduser() / "compose-farm" / CONFIG_FILENAME]


def find_config(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """The first existing config path, or a ``ConfigError`` saying where we looked.

    A path the user named (``-c``, ``$CF_CONFIG``) is returned even when it does
    not exist, so the error that follows names it.
    """
    candidates = config_candidates(explicit, environ)
    for path in candidates:
        if path.exists() or path.is_symlink() or explicit or environ.get("CF_CONFIG"):
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise ConfigError(
        f"no config file found (looked in {tried})",
        hint="create one with `cf config init`, or pass `-c FILE` / set CF_CONFIG",
    )
