"""Which of a container's labels Traefik's Docker provider reads, and whether it reads any.

What Traefik 3.7's Docker provider does, seen by running it against lab
containers (the README's Traefik section says the same for users):

- It decodes the labels that start, ignoring case, with ``traefik.http``,
  ``traefik.tcp``, ``traefik.udp``, ``traefik.tls.stores.default``,
  ``traefik.docker.`` or ``traefik.enable``; every one of those must have the
  root spelt ``traefik`` exactly. One ``TRAEFIK.http...`` or ``Traefik.enable``
  and it skips the *whole container* ("invalid label root"), its other
  labels included; below the root, case does not matter.
- ``traefik.enable`` is read like Go's ``strconv.ParseBool``: ``1 t T TRUE true
  True`` and ``0 f F FALSE false False``; anything else (``no``, ``FaLsE``)
  skips the whole container too.
- An empty part (``traefik.http.routers..rule``) is an invalid element: the
  same.

So cf reads a compose service's labels the same way: a service Traefik would
skip is skipped, with a warning saying why, and contributes no router,
service, middleware or web link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compose_farm.traefik.labels import nest

PROTOCOLS = ("http", "tcp", "udp")
ROOT = "traefik"
# Label prefixes Traefik's Docker provider decodes (compared ignoring case).
DECODED = (
    "traefik.http",
    "traefik.tcp",
    "traefik.udp",
    "traefik.tls.stores.default",
    "traefik.docker.",
    "traefik.enable",
)
TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclass(frozen=True)
class Reading:
    """What Traefik takes from one container's labels.

    ``trees`` maps each protocol to its nested labels (``routers``, ``services``,
    ``middlewares``); empty when the container is disabled or skipped.
    ``problem`` says why Traefik skips the container (None when it does not).
    """

    trees: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: str | None = None

    @property
    def routed(self) -> bool:
        """True when the container defines anything to route."""
        return any(self.trees.values())


def read(labels: Mapping[str, str]) -> Reading:
    """The Traefik configuration ``labels`` give, as Traefik's Docker provider reads them."""
    enable: str | None = None
    for key in sorted(labels):
        if not any(key[: len(p)].lower() == p for p in DECODED):
            continue
        problem = _key_problem(key)
        if problem is not None:
            return Reading(problem=problem)
        if key.lower() == "traefik.enable":
            enable = labels[key]  # the last one in sorted order wins, as in Traefik
    if enable is not None and enable not in TRUE | FALSE:
        return Reading(
            problem=f"traefik.enable={enable} is not a boolean Traefik reads (true/false, 1/0, "
            "t/f); its Docker provider skips the container. Write traefik.enable=true or false"
        )
    if enable in FALSE:
        return Reading()
    return Reading({p: nest(labels, f"{ROOT}.{p}") for p in PROTOCOLS})


def _key_problem(key: str) -> str | None:
    """Why Traefik's label parser refuses ``key``, or None."""
    root, _, rest = key.partition(".")
    if root != ROOT:
        return (
            f"label {key}: Traefik's Docker provider skips the whole container (invalid label "
            f"root {root}: the root must be spelt `{ROOT}`). Write {ROOT}.{rest}"
        )
    if not all(key.split(".")):
        return (
            f"label {key}: Traefik's Docker provider skips the whole container (an empty "
            "part between dots). Remove the extra dot"
        )
    return None
