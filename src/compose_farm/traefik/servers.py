"""Where Traefik on another host reaches a container: each host's address and a published port.

``loadbalancer.server.port`` names a *container* port; Traefik elsewhere must
call the host port that publishes it (and the one address it is bound to,
when it is bound to one). A container that shares another service's network
(``network_mode: service:vpn``) is reached through that service's published
ports; one on the host's network (``network_mode: host``) listens on the
host's ports directly. What cannot be reached is a reason, with the fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from compose_farm.compose import ComposeProject, PublishedPort, ServiceInfo

# A port to call and the one address it is bound to (None: every address).
Target = tuple[int, str | None]


def build_service(
    protocol: str,
    name: str,
    svc: dict[str, Any],
    service: ServiceInfo,
    project: ComposeProject,
    hosts: Sequence[tuple[str, str]],
) -> dict[str, Any] | str:
    """The file-provider service ``name`` with one server per host, or why it cannot be built."""
    balancer = svc.get("loadBalancer", {})
    server = balancer.get("server", {}) if isinstance(balancer, dict) else None
    if not isinstance(balancer, dict) or not isinstance(server, dict):
        return (
            "its loadbalancer labels are malformed (expected "
            f"traefik.{protocol}.services.{name}.loadbalancer.server.port=PORT)"
        )
    balancer = dict(balancer)
    server = dict(balancer.pop("server", {}))
    wanted = server.pop("port", None)
    scheme = server.pop("scheme", "http")
    target = reach(service, project, wanted, "udp" if protocol == "udp" else "tcp")
    if isinstance(target, str):
        return target
    port, bound = target
    servers = []
    for _host, address in hosts:
        where = f"{_bracket(bound or address)}:{port}"
        if protocol == "http":
            servers.append({"url": f"{scheme}://{where}", **server})
        else:
            servers.append({"address": where, **server})
    rest = {k: v for k, v in svc.items() if k != "loadBalancer"}
    return {**rest, "loadBalancer": {**balancer, "servers": servers}}


def reach(
    service: ServiceInfo, project: ComposeProject, wanted: Any, protocol: str
) -> Target | str:
    """The host port (and bound address) that reaches ``service``'s port ``wanted``, or why not."""
    owner = service
    seen = {service.name}
    while owner.network_mode and owner.network_mode.startswith("service:"):
        name = owner.network_mode.removeprefix("service:")
        if name in seen or name not in project.services:
            return f"network_mode {owner.network_mode} names no service cf can follow"
        seen.add(name)
        owner = project.services[name]
    mode = owner.network_mode or ""
    if mode == "host":
        return _on_host_network(wanted)
    if mode == "none" or mode.startswith("container:"):
        return (
            f"network_mode {mode}: cf cannot see a published port for it; route to a "
            "service that publishes the port instead"
        )
    found = _published_port(owner.ports, wanted, protocol)
    if isinstance(found, str) and owner is not service:
        return (
            f"{service.name} uses the network of service {owner.name} (network_mode: "
            f"{service.network_mode}), so Traefik reaches it through {owner.name}'s published "
            f"ports, and there: {found}"
        )
    return found


def _on_host_network(wanted: Any) -> Target | str:
    """A container on the host's network listens on the host's own ports."""
    if wanted is None:
        return (
            "network_mode host: the container listens on the host's ports; set "
            "loadbalancer.server.port to the one Traefik should call"
        )
    try:
        return int(wanted), None
    except (TypeError, ValueError):
        return f"loadbalancer.server.port {wanted!r} is not a number"


def _published_port(ports: Sequence[PublishedPort], wanted: Any, protocol: str) -> Target | str:
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
