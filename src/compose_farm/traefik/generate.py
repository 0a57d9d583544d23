"""Build one Traefik file-provider config from every deployed stack's labels.

For each compose service with Traefik labels, on each host its stack runs on:
routers and middlewares are copied, and each Traefik service's servers point
at that host's address and the *published* port behind
``loadbalancer.server.port``. A stack on several hosts gets one server per
host. Pure: the caller loads compose files and says where stacks run.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compose_farm.compose import ComposeProject, PublishedPort, ServiceInfo
from compose_farm.traefik.labels import enabled, nest
from compose_farm.traefik.refs import Name, resolve

PROTOCOLS = ("http", "tcp", "udp")


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


def generate(placements: Sequence[Placement], docker: Collection[Name] = ()) -> TraefikConfig:
    """The file-provider config for ``placements``, sorted for stable output.

    ``docker`` names what Traefik's Docker provider defines (``defined_names``
    of the stacks left to it): references to those become ``NAME@docker``.
    """
    out = TraefikConfig()
    owners: dict[tuple[str, str, str], str] = {}
    for placement in sorted(placements, key=lambda p: p.project.stack):
        for service in placement.project.services.values():
            if enabled(service.labels):
                _add_service(out, owners, placement, service)
    resolve(out.document, frozenset(docker))
    out.document = _sorted(out.document)
    return out


def defined_names(project: ComposeProject) -> frozenset[Name]:
    """What Traefik's Docker provider defines from ``project``'s labels.

    Like the Docker provider, a container that labels no service of a protocol
    but has routers of it gets the implicit one; so does one with HTTP labels
    (or no TCP/UDP routers and services) but no HTTP service.
    """
    names: set[Name] = set()
    for service in project.services.values():
        if not enabled(service.labels):
            continue
        trees = {p: nest(service.labels, f"traefik.{p}") for p in PROTOCOLS}
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


def _add_service(
    out: TraefikConfig,
    owners: dict[tuple[str, str, str], str],
    placement: Placement,
    service: ServiceInfo,
) -> None:
    stack = placement.project.stack
    where = f"stack {stack}, service {service.name}"
    for protocol in PROTOCOLS:
        tree = nest(service.labels, f"traefik.{protocol}")
        routers = _mappings(out, where, tree.get("routers", {}), f"{protocol} router")
        services = _mappings(out, where, tree.get("services", {}), f"{protocol} service")
        middlewares = _mappings(out, where, tree.get("middlewares", {}), f"{protocol} middleware")
        if not routers and not services and not middlewares:
            continue
        if not services and any("service" not in r for r in routers.values()):
            services = {_implicit(service, placement.project): {}}
        for name, router in routers.items():
            if "service" not in router:
                if len(services) == 1:
                    router["service"] = next(iter(services))
                else:
                    out.warnings.append(
                        f"{where}: router {name} has no service and the container defines "
                        f"{len(services)}; add traefik.{protocol}.routers.{name}.service=NAME"
                    )
                    continue
            if protocol == "http" and "tls" in router:
                tls = router["tls"]
                if tls is False:
                    del router["tls"]
                elif not isinstance(tls, dict):
                    router["tls"] = {}
            if placement.traefik_hosts:
                _outrank_docker(out, where, protocol, name, router, placement.traefik_hosts)
            _put(out, owners, protocol, "routers", name, router, stack)
        for name, middleware in middlewares.items():
            _put(out, owners, protocol, "middlewares", name, middleware, stack)
        for name, svc in services.items():
            built = _service(out, protocol, name, svc, service, placement, where)
            if built is not None:
                _put(out, owners, protocol, "services", name, built, stack)


def _outrank_docker(
    out: TraefikConfig,
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
        out.warnings.append(
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
        out.warnings.append(
            f"{where}: {protocol} router {name}: priority {priority!r} is not a number, so it "
            f"cannot be ranked above the Docker provider's copy on {on} (the Traefik host)"
        )
        return
    router["priority"] = priority + 1


def _mappings(out: TraefikConfig, where: str, found: dict[str, Any], what: str) -> dict[str, Any]:
    """Entries whose labels form a mapping; the rest are reported and dropped."""
    kept = {}
    for name, value in found.items():
        if isinstance(value, dict):
            kept[name] = value
        else:
            out.warnings.append(f"{where}: {what} {name} skipped: its labels are malformed")
    return kept


def _service(
    out: TraefikConfig,
    protocol: str,
    name: str,
    svc: dict[str, Any],
    service: ServiceInfo,
    placement: Placement,
    where: str,
) -> dict[str, Any] | None:
    balancer = svc.get("loadBalancer", {})
    server = balancer.get("server", {}) if isinstance(balancer, dict) else None
    if not isinstance(balancer, dict) or not isinstance(server, dict):
        out.warnings.append(
            f"{where}: Traefik service {name} skipped: its loadbalancer labels are malformed "
            f"(expected traefik.{protocol}.services.{name}.loadbalancer.server.port=PORT)"
        )
        return None
    balancer = dict(balancer)
    server = dict(balancer.pop("server", {}))
    wanted = server.pop("port", None)
    scheme = server.pop("scheme", "http")
    published = _published_port(service.ports, wanted, "udp" if protocol == "udp" else "tcp")
    if isinstance(published, str):
        out.warnings.append(f"{where}: Traefik service {name} skipped: {published}")
        return None
    port, bound = published
    servers = []
    for _host, address in placement.hosts:
        target = f"{_bracket(bound or address)}:{port}"
        if protocol == "http":
            servers.append({"url": f"{scheme}://{target}", **server})
        else:
            servers.append({"address": target, **server})
    rest = {k: v for k, v in svc.items() if k != "loadBalancer"}
    return {**rest, "loadBalancer": {**balancer, "servers": servers}}


def _published_port(
    ports: Sequence[PublishedPort], wanted: Any, protocol: str
) -> tuple[int, str | None] | str:
    """The host port Traefik must call (and the one address it is bound to), or why not."""
    published = [p for p in ports if p.published is not None and p.protocol == protocol]
    candidates = [p for p in published if not _loopback(p.host_ip)]
    if published and not candidates:
        return (
            f"port {published[0].published} is published only on {published[0].host_ip}, "
            "which Traefik on another host cannot reach; publish it on all addresses"
        )
    if wanted is not None:
        try:
            target = int(wanted)
        except (TypeError, ValueError):
            return f"loadbalancer.server.port {wanted!r} is not a number"
        matches = [p for p in candidates if p.target == target]
        if not matches:
            suffix = "/udp" if protocol == "udp" else ""
            return (
                f"container port {target} is not published; "
                f'add `ports: ["{target}:{target}{suffix}"]` '
                "(any free host port) so Traefik can reach it from another host"
            )
        chosen = matches[0]
    elif len(candidates) == 1:
        chosen = candidates[0]
    elif not candidates:
        return (
            "no published port; publish the container's port in `ports:` "
            "and set loadbalancer.server.port"
        )
    else:
        listed = ", ".join(str(p.target) for p in candidates)
        return f"several published ports ({listed}); set loadbalancer.server.port to pick one"
    if chosen.published_end is not None and chosen.published_end != chosen.published:
        return "the published port is a range; publish one fixed host port"
    assert chosen.published is not None
    return chosen.published, _specific(chosen.host_ip)


def _put(
    out: TraefikConfig,
    owners: dict[tuple[str, str, str], str],
    protocol: str,
    section: str,
    name: str,
    value: dict[str, Any],
    stack: str,
) -> None:
    key = (protocol, section, name)
    table = out.document.setdefault(protocol, {}).setdefault(section, {})
    owner = owners.get(key)
    if owner is None:
        owners[key] = stack
        table[name] = value
    elif owner != stack:
        out.warnings.append(
            f"stack {stack}: {protocol} {section[:-1]} {name} is also defined by stack {owner}; "
            f"keeping {owner}'s. Rename one of them"
        )
    elif section == "services" and value != table[name]:
        # Same stack, another compose service with the same Traefik service: merge servers.
        servers = table[name]["loadBalancer"]["servers"]
        servers += [s for s in value["loadBalancer"]["servers"] if s not in servers]


def _loopback(host_ip: str | None) -> bool:
    if not host_ip:
        return False
    try:
        return ipaddress.ip_address(host_ip.strip("[]")).is_loopback
    except ValueError:
        return host_ip == "localhost"


def _specific(host_ip: str | None) -> str | None:
    """The one address a port is bound to, or None when it listens on every address."""
    if not host_ip:
        return None
    bare = host_ip.strip("[]")
    try:
        return None if ipaddress.ip_address(bare).is_unspecified else bare
    except ValueError:
        return bare


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
