"""Build one Traefik file-provider config from every deployed stack's labels.

For each compose service with Traefik labels, on each host its stack runs on:
routers and middlewares are copied, and each Traefik service's servers point
at that host's address and the *published* port behind
``loadbalancer.server.port`` (servers.py). Labels are read as Traefik's Docker
provider reads them (read.py); a stack's containers are merged as it merges
them (merge.py). What cannot be routed is left out with a warning, and so is
every router that would point at it (skips.py): the file never names a
service it does not define. Pure: the caller loads compose files and says
where stacks run.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compose_farm.compose import ComposeProject, ServiceInfo
from compose_farm.traefik.merge import Definitions, merge
from compose_farm.traefik.read import PROTOCOLS, Reading, read
from compose_farm.traefik.refs import Name, resolve
from compose_farm.traefik.servers import build_service
from compose_farm.traefik.skips import Skip, prune


@dataclass(frozen=True)
class Placement:
    """A stack's parsed compose file and the hosts (name, address) it runs on.

    ``traefik_hosts`` are those of ``hosts`` that Traefik runs on: its Docker
    provider defines the stack's routers there too.
    """

    project: ComposeProject
    hosts: tuple[tuple[str, str], ...]
    traefik_hosts: tuple[str, ...] = ()


@dataclass
class TraefikConfig:
    """The generated document and the warnings met on the way."""

    document: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """What one ``generate`` call gathers: notes in order, what it skipped, and where from."""

    notes: list[str | Skip] = field(default_factory=list)
    skipped: dict[Name, Skip] = field(default_factory=dict)
    origins: dict[Name, str] = field(default_factory=dict)


def generate(placements: Sequence[Placement], docker: Collection[Name] = ()) -> TraefikConfig:
    """The file-provider config for ``placements``, sorted for stable output.

    ``docker`` names what Traefik's Docker provider defines (``defined_names``
    of the stacks left to it): references to those become ``NAME@docker``.
    """
    out = TraefikConfig()
    run = _Run()
    owners: dict[Name, str] = {}
    for placement in sorted(placements, key=lambda p: p.project.stack):
        definitions, origins = _stack(run, placement)
        for key, value in definitions.items():
            if _put(run, out.document, owners, key, value, placement.project.stack):
                run.origins[key] = origins[key]
    resolve(out.document, frozenset(docker))
    prune(out.document, run.skipped, run.origins)
    out.document = _sorted(out.document)
    out.warnings = [str(note) for note in run.notes]
    return out


def defined_names(project: ComposeProject) -> frozenset[Name]:
    """What Traefik's Docker provider defines from ``project``'s labels.

    Like the Docker provider, a container that labels no service of a protocol
    but has routers of it gets the implicit one; so does one with HTTP labels
    (or no TCP/UDP routers and services) but no HTTP service.
    """
    names: set[Name] = set()
    for service in project.services.values():
        trees = read(service.labels).trees
        if not any(trees.values()):
            continue
        tcp_or_udp = any(trees[p].get(k) for p in ("tcp", "udp") for k in ("routers", "services"))
        for protocol, tree in trees.items():
            for kind in ("routers", "services", "middlewares"):
                names.update((protocol, kind, name) for name in tree.get(kind, {}))
            if tree.get("services"):
                continue
            if tree.get("routers") or (protocol == "http" and (tree or not tcp_or_udp)):
                names.add((protocol, "services", _implicit(service, project)))
    return frozenset(names)


def _implicit(service: ServiceInfo, project: ComposeProject) -> str:
    """The service name Traefik's Docker provider gives a container without one."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"{service.name}-{project.project_name}")


def _stack(run: _Run, placement: Placement) -> tuple[Definitions, dict[Name, str]]:
    """One stack's definitions, its containers merged, and where each came from."""
    project = placement.project
    containers: list[tuple[str, Definitions]] = []
    for service in project.services.values():
        reading = read(service.labels)
        where = f"stack {project.stack}, service {service.name}"
        if reading.problem is not None:
            run.notes.append(f"{where}: skipped: {reading.problem}")
        elif reading.routed:
            containers.append((service.name, _container(run, placement, service, reading, where)))
    return merge(project.stack, containers, run.notes, run.skipped)


def _container(
    run: _Run, placement: Placement, service: ServiceInfo, reading: Reading, where: str
) -> Definitions:
    """What one container defines, as Traefik's Docker provider builds it for that container."""
    found: Definitions = {}
    for protocol in PROTOCOLS:
        tree = reading.trees[protocol]
        routers = _mappings(run, where, protocol, "routers", tree.get("routers", {}))
        services = _mappings(run, where, protocol, "services", tree.get("services", {}))
        middlewares = _mappings(run, where, protocol, "middlewares", tree.get("middlewares", {}))
        if not routers and not services and not middlewares:
            continue
        if not services and any("service" not in r for r in routers.values()):
            services = {_implicit(service, placement.project): {}}
        for name, router in routers.items():
            if _router(run, where, protocol, name, router, services, placement):
                found[(protocol, "routers", name)] = router
        for name, middleware in middlewares.items():
            found[(protocol, "middlewares", name)] = middleware
        for name, svc in services.items():
            built = build_service(protocol, name, svc, service, placement.project, placement.hosts)
            if isinstance(built, str):
                _skip(
                    run, Skip(where, f"Traefik service {name}", built), (protocol, "services", name)
                )
            else:
                found[(protocol, "services", name)] = built
    return found


def _router(
    run: _Run,
    where: str,
    protocol: str,
    name: str,
    router: dict[str, Any],
    services: Mapping[str, Any],
    placement: Placement,
) -> bool:
    """Complete ``router`` in place as Traefik's Docker provider would; False to leave it out."""
    if "service" not in router:
        if len(services) != 1:
            run.notes.append(
                f"{where}: router {name} has no service and the container defines "
                f"{len(services)}; add traefik.{protocol}.routers.{name}.service=NAME"
            )
            return False
        router["service"] = next(iter(services))
    if protocol != "udp" and not router.get("rule"):
        why = (
            "its Docker provider refuses it too"
            if protocol == "tcp"
            else "its Docker provider would make one up from settings cf cannot see"
        )
        example = "HostSNI(`*`)" if protocol == "tcp" else "Host(`app.example.com`)"
        run.notes.append(
            f"{where}: router {name} has no rule, which Traefik refuses in a file ({why}); "
            f"add traefik.{protocol}.routers.{name}.rule={example}"
        )
        return False
    if protocol == "http" and "tls" in router:
        tls = router["tls"]
        if tls is False:
            del router["tls"]
        elif not isinstance(tls, dict):
            router["tls"] = {}
    if placement.traefik_hosts:
        _outrank_docker(run, where, protocol, name, router, placement.traefik_hosts)
    return True


def _skip(run: _Run, skip: Skip, key: Name) -> None:
    run.notes.append(skip)
    run.skipped.setdefault(key, skip)


def _outrank_docker(
    run: _Run,
    where: str,
    protocol: str,
    name: str,
    router: dict[str, Any],
    traefik_hosts: Sequence[str],
) -> None:
    """Rank ``router`` one above the Docker provider's copy of it, which has the same labels.

    That copy only knows the Traefik host's container; this one balances over
    every host. Traefik's default priority is the length of the rule.
    """
    on = ", ".join(traefik_hosts)
    if protocol == "udp":
        run.notes.append(
            f"{where}: udp router {name} is also defined by Traefik's Docker provider on "
            f"{on} (the Traefik host); UDP routers have no priority and Traefik uses one per "
            "entry point, so the traffic may all go to that host's copy. Run the stack on "
            "the Traefik host only, or not there"
        )
        return
    priority = router.get("priority")
    if priority is None or priority == 0:
        rule = router.get("rule")
        priority = len(rule.encode()) if isinstance(rule, str) else 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        run.notes.append(
            f"{where}: {protocol} router {name}: priority {priority!r} is not a number, so it "
            f"cannot be ranked above the Docker provider's copy on {on} (the Traefik host)"
        )
        return
    router["priority"] = priority + 1


def _mappings(
    run: _Run, where: str, protocol: str, kind: str, found: dict[str, Any]
) -> dict[str, Any]:
    """Entries whose labels form a mapping; the rest are reported and left out."""
    kept = {}
    for name, value in found.items():
        if isinstance(value, dict):
            kept[name] = value
        else:
            what = f"{protocol} {kind[:-1]} {name}"
            _skip(run, Skip(where, what, "its labels are malformed"), (protocol, kind, name))
    return kept


def _put(
    run: _Run,
    document: dict[str, Any],
    owners: dict[Name, str],
    key: Name,
    value: dict[str, Any],
    stack: str,
) -> bool:
    """Add one stack's definition; a name another stack took first is kept as theirs."""
    protocol, section, name = key
    owner = owners.setdefault(key, stack)
    if owner != stack:
        run.notes.append(
            f"stack {stack}: {protocol} {section[:-1]} {name} is also defined by stack {owner}; "
            f"keeping {owner}'s. Rename one of them"
        )
        return False
    document.setdefault(protocol, {}).setdefault(section, {})[name] = value
    return True


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
