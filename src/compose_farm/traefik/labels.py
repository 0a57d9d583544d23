"""Traefik labels -> nested file-provider mappings.

Labels are dotted paths (``traefik.http.routers.web.entrypoints=websecure``).
Traefik reads them case-insensitively, but its file provider wants its own
camelCase keys, so known keys are spelled the file provider's way; unknown
keys keep the user's spelling. Comma-separated values of list options become
lists; ``true``/``false`` and integers become YAML booleans and numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# lowercase label key -> the file provider's spelling
CANONICAL = {
    k.lower(): k
    for k in (
        "entryPoints",
        "middlewares",
        "loadBalancer",
        "certResolver",
        "passHostHeader",
        "healthCheck",
        "serversTransport",
        "stripPrefix",
        "stripPrefixRegex",
        "addPrefix",
        "basicAuth",
        "digestAuth",
        "forwardAuth",
        "redirectScheme",
        "redirectRegex",
        "replacePath",
        "replacePathRegex",
        "ipAllowList",
        "ipWhiteList",
        "rateLimit",
        "inFlightReq",
        "chain",
        "compress",
        "headers",
        "customRequestHeaders",
        "customResponseHeaders",
        "accessControlAllowOriginList",
        "accessControlAllowMethods",
        "accessControlAllowHeaders",
        "sslRedirect",
        "stsSeconds",
        "stsIncludeSubdomains",
        "frameDeny",
        "browserXssFilter",
        "contentTypeNosniff",
        "trustForwardHeader",
        "authResponseHeaders",
        "sourceRange",
        "ruleSyntax",
        "sticky",
        "cookie",
        "httpOnly",
        "sameSite",
        "responseForwarding",
        "flushInterval",
        "headerField",
        "removeHeader",
        "usersFile",
        "passthrough",
        "permanent",
        "prefixes",
        "priority",
        "domains",
        "main",
        "sans",
        "options",
        "rule",
        "service",
        "tls",
        "users",
        "address",
        "average",
        "burst",
        "period",
        "scheme",
        "url",
        "path",
        "interval",
        "timeout",
        "regex",
        "replacement",
        "prefix",
    )
}

# Options whose comma-separated label value is a list in the file provider.
LIST_KEYS = frozenset(
    {
        "entrypoints",
        "middlewares",
        "prefixes",
        "users",
        "sourcerange",
        "authresponseheaders",
        "accesscontrolalloworiginlist",
        "accesscontrolallowmethods",
        "accesscontrolallowheaders",
        "sans",
    }
)


def scalar(key: str, value: str) -> Any:
    """A label value as YAML wants it for ``key``."""
    if key.lower() in LIST_KEYS:
        return [part.strip() for part in value.split(",") if part.strip()]
    if value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if value.isdigit() and key.lower() not in {"rule", "service", "address", "url"}:
        return int(value)
    return value


def canonical(key: str) -> str:
    """The file provider's spelling of ``key`` (the user's when unknown)."""
    return CANONICAL.get(key.lower(), key)


def nest(labels: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """Labels under ``prefix`` (e.g. ``traefik.http``) as a nested mapping.

    ``traefik.http.routers.web.tls=true`` next to
    ``traefik.http.routers.web.tls.certresolver=le`` yields
    ``{"tls": {"certResolver": "le"}}``: a flag is absorbed by its sub-keys.
    """
    tree: dict[str, Any] = {}
    head = prefix.lower() + "."
    for label in sorted(labels):
        if not label.lower().startswith(head):
            continue
        parts = label[len(head) :].split(".")
        if len(parts) < 3 or not all(parts):
            continue
        kind, name, *path = parts
        node = tree.setdefault(kind.lower(), {}).setdefault(name, {})
        for part in path[:-1]:
            key = canonical(part)
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        leaf = canonical(path[-1])
        if isinstance(node.get(leaf), dict):
            continue  # tls=true after tls.certresolver=...: keep the detail
        node[leaf] = scalar(path[-1], labels[label])
    return tree


def enabled(labels: Mapping[str, str]) -> bool:
    """A service takes part unless ``traefik.enable`` is false; it must have traefik labels."""
    lowered = {k.lower(): v for k, v in labels.items()}
    if lowered.get("traefik.enable", "true").strip().lower() == "false":
        return False
    return any(k.startswith(("traefik.http.", "traefik.tcp.", "traefik.udp.")) for k in lowered)
