"""Traefik file-provider generation from compose labels."""

from compose_farm.traefik.build import build, placements, regenerate, render, write_if_changed
from compose_farm.traefik.generate import Placement, TraefikConfig, generate

__all__ = [
    "Placement",
    "TraefikConfig",
    "build",
    "generate",
    "placements",
    "regenerate",
    "render",
    "write_if_changed",
]
