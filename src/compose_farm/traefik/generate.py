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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compose_farm.compose import ComposeProject, PublishedPort, ServiceInfo
from compose_farm.traefik.labels import enabled, nest

PROTOCOLS = ("http", "tcp", "udp")


@dataclass(frozen=True)
class Placement:
    """A stack's parsed compose file and the hosts (name, address) it runs on."""

    project: ComposeProject
    hosts: tuple[tuple[str, str], ...]


@dataclass
class TraefikConfig:
    """The generated document and the warnings met on the way."""

    document: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def generate(placements: Sequence[Placement]) -> TraefikConfig:
    """The file-provider config for ``placements``, sorted for stable output."""
    out = TraefikConfig()
    owners: dict[tuple[str, str, str], str] = {}
    for placement in sorted(placements, key=lambda p: p.project.stack):
        for service in placement.project.services.values():
            if enabled(service.labels):
                _add_service(out, owners, placement, service)
    out.document = _sorted(out.document)
    return out


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
            # Traefik's Docker provider names the implicit service after the compose service.
            implicit = f"{service.name}-{placement.project.project_name}"
            services = {re.sub(r"[^A-Za-z0-9-]+", "-", implicit): {}}
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
            _put(out, owners, protocol, "routers", name, router, stack)
        for name, middleware in middlewares.items():
            _put(out, owners, protocol, "middlewares", name, middleware, stack)
        for name, svc in services.items():
            built = _service(out, protocol, name, svc, service, placement, where)
            if built is not None:
                _put(out, owners, protocol, "services", name, built, stack)


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
