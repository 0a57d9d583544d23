"""One stack's containers merged into one set of definitions, as Traefik's Docker provider does.

Traefik's Docker provider builds each container's routers, services and
middlewares on its own (a router without ``service`` gets that container's
service), then merges them by name (seen with Traefik 3.7 on lab containers):

- the same name with the same definition on several containers is one
  definition; a service's servers are added up (load balancing);
- the same name with different definitions is an error: Traefik logs
  "... defined multiple times with different configurations" and drops it
  (the router, service or middleware), keeping nothing of either.

So does cf, with a warning, within a stack (across stacks the file keeps
the first stack's; see generate.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compose_farm.traefik.refs import Name
from compose_farm.traefik.skips import Skip

# One container's definitions: (protocol, "routers" | "services" | "middlewares", name) -> value
Definitions = dict[Name, dict[str, Any]]


def merge(
    stack: str,
    containers: Sequence[tuple[str, Definitions]],
    notes: list[str | Skip],
    skipped: dict[Name, Skip],
) -> tuple[Definitions, dict[Name, str]]:
    """The stack's definitions and the compose service each came from (the first that has it).

    Conflicting names are left out: a note each, and services and middlewares
    recorded in ``skipped`` so that the routers using them are left out too.
    """
    merged: Definitions = {}
    first: dict[Name, str] = {}
    conflicts: dict[Name, list[str]] = {}
    for service, definitions in containers:
        for key, value in definitions.items():
            if key not in merged:
                merged[key], first[key] = value, service
            elif not _combine(key, merged[key], value):
                conflicts.setdefault(key, [first[key]]).append(service)
    for key, services in conflicts.items():
        protocol, kind, name = key
        del merged[key]
        thing = {"routers": "router", "services": "service", "middlewares": "middleware"}[kind]
        skip = Skip(
            f"stack {stack}, services {', '.join(services)}",
            f"{protocol} {thing} {name}",
            f"they define it with different labels, and Traefik's Docker provider drops a "
            f"{thing} defined differently by several containers. Give it the same labels "
            "everywhere, or another name on each",
        )
        notes.append(skip)
        if kind != "routers":
            skipped[key] = skip
    return merged, {k: f"stack {stack}, service {s}" for k, s in first.items()}


def _combine(key: Name, kept: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``other`` may join ``kept`` (servers of equal services are added to ``kept``)."""
    if key[1] != "services":
        return kept == other
    if _without_servers(kept) != _without_servers(other):
        return False
    servers = kept["loadBalancer"]["servers"]
    servers += [s for s in other["loadBalancer"]["servers"] if s not in servers]
    return True


def _without_servers(service: dict[str, Any]) -> dict[str, Any]:
    balancer = {k: v for k, v in service["loadBalancer"].items() if k != "servers"}
    return {**service, "loadBalancer": balancer}
