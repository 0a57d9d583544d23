"""Traefik labels -> nested file-provider mappings.

Labels are dotted paths (``traefik.http.routers.web.entrypoints=websecure``).
Below the root, Traefik reads them case-insensitively: ``routers.App.rule`` and
``routers.app.priority`` are one router, spelt as the first label (in sorted
order) spells it. Its file provider wants its own camelCase keys, so known keys
are spelled the file provider's way; unknown keys keep the user's spelling.
Comma-separated values of list options become lists; ``true``/``false`` and
integers become YAML booleans and numbers. Which labels Traefik reads at all
(the root, ``traefik.enable``) is read.py's business.
"""

from __future__ import annotations

import re
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
        "server",
        "servers",
        "port",
        "weight",
    )
}

# Options whose value Traefik reads as a number; every other value stays text
# (a header value "007" must reach the client as "007").
INT_KEYS = frozenset(
    {"port", "priority", "weight", "stsseconds", "average", "burst", "period", "amount", "depth"}
)
# Maps of free-form strings: their values are never converted.
STRING_MAPS = frozenset({"customrequestheaders", "customresponseheaders"})

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


def scalar(key: str, value: str, parent: str = "") -> Any:
    """A label value as YAML wants it for ``key`` (inside ``parent``)."""
    if parent.lower() in STRING_MAPS:
        return value
    if key.lower() in LIST_KEYS:
        return [part.strip() for part in value.split(",") if part.strip()]
    if value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if key.lower() in INT_KEYS and value.isascii() and value.isdigit():
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
        names = tree.setdefault(kind.lower(), {})
        node = names.setdefault(_spelt(names, name), {})
        for part in path[:-1]:
            node = _child(node, part)
        leaf = path[-1]
        parent = path[-2] if len(path) > 1 else ""
        indexed = _INDEXED.match(leaf)
        if indexed is not None:  # `sans[0]=a.example`
            items = _list_at(node, canonical(indexed.group(1)), int(indexed.group(2)))
            items[int(indexed.group(2))] = scalar(indexed.group(1), labels[label], parent)
            continue
        key = _spelt(node, canonical(leaf))
        if isinstance(node.get(key), dict):
            continue  # tls=true after tls.certresolver=...: keep the detail
        node[key] = scalar(leaf, labels[label], parent)
    return tree


def _spelt(node: Mapping[str, Any], key: str) -> str:
    """``key`` as ``node`` already spells it, ignoring case (Traefik's reading), else as is."""
    if key in node:
        return key
    folded = key.lower()
    return next((k for k in node if k.lower() == folded), key)


_INDEXED = re.compile(r"^(.+)\[(\d{1,3})\]$")


def _list_at(node: dict[str, Any], key: str, index: int) -> list[Any]:
    """``node[key]`` as a list long enough for ``index``."""
    key = _spelt(node, key)
    items = node.get(key)
    if not isinstance(items, list):
        items = []
        node[key] = items
    while len(items) <= index:
        items.append({})
    return items


def _child(node: dict[str, Any], part: str) -> dict[str, Any]:
    """The mapping under ``part`` (``domains[0]`` is item 0 of list ``domains``)."""
    indexed = _INDEXED.match(part)
    if indexed is not None:
        items = _list_at(node, canonical(indexed.group(1)), int(indexed.group(2)))
        index = int(indexed.group(2))
        if not isinstance(items[index], dict):
            items[index] = {}
        child: dict[str, Any] = items[index]
        return child
    key = _spelt(node, canonical(part))
    found = node.get(key)
    if not isinstance(found, dict):
        found = {}
        node[key] = found
    return found
