"""Traefik file-provider generation from compose labels."""

from compose_farm.traefik.build import (
    build,
    docker_names,
    placements,
    regenerate,
    render,
    write_if_changed,
)
from compose_farm.traefik.generate import Placement, TraefikConfig, defined_names, generate

__all__ = [
    "Placement",
    "TraefikConfig",
    "build",
    "defined_names",
    "docker_names",
    "generate",
    "placements",
    "regenerate",
    "render",
    "write_if_changed",
]
