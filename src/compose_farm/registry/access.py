"""How Docker on a host reaches each registry: TLS or plain http, and its credentials.

Read from the host, the way Docker there reads them: its client config
(``$DOCKER_CONFIG/config.json``, default ``~/.docker``: ``auths``, and
``credHelpers``/``credsStore`` whose ``docker-credential-<name> get`` is run on
the host), and its engine's registry settings (``docker info``: a registry
listed as insecure, or in an insecure CIDR, is spoken to over plain http).
Credentials stay in memory, for the registry they belong to.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compose_farm.registry.client import Access
from compose_farm.registry.reference import HUB, HUB_AUTH_KEY

# The client config and the engine's registry settings, in one round trip.
PROGRAM = r"""
cfg="${DOCKER_CONFIG:-$HOME/.docker}/config.json"
echo '--- config'
if [ -r "$cfg" ]; then base64 < "$cfg" | tr -d '\n'; fi
echo
echo '--- registries'
docker info --format '{{json .RegistryConfig}}' 2>/dev/null
exit 0
"""

# $1: a credential helper's name, $2: the registry. Its JSON answer on stdout.
HELPER_PROGRAM = r"""
printf '%s' "$2" | "docker-credential-$1" get
"""
_HELPER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class HostAccess:
    """What one host's Docker knows about registries."""

    auths: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    helpers: Mapping[str, str] = field(default_factory=dict)  # registry -> helper name
    store: str | None = None  # credsStore: the helper for every other registry
    insecure: frozenset[str] = frozenset()  # registries Docker speaks http to
    insecure_cidrs: tuple[str, ...] = ()

    def helper_for(self, registry: str) -> str | None:
        """The credential helper Docker would ask for ``registry`` (a safe name), if any."""
        name = self.helpers.get(_auth_key(registry)) or self.helpers.get(registry) or self.store
        return name if name and _HELPER.fullmatch(name) else None

    def access(self, registry: str, helped: Mapping[str, Any] | None = None) -> Access:
        """TLS or not, and the credentials: the helper's answer, else ``auths``."""
        secure = registry not in self.insecure and not _in_cidrs(registry, self.insecure_cidrs)
        entry = self.auths.get(_auth_key(registry)) or self.auths.get(registry) or {}
        username, secret = _from_helper(helped) if helped else _from_auths(entry)
        return Access(secure, username, secret)


def _auth_key(registry: str) -> str:
    return HUB_AUTH_KEY if registry == HUB else registry


def _from_auths(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return "<token>", token
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None, None
        if sep:
            return user, password
    name, word = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(word, str):
        return name, word
    return None, None


def _from_helper(answer: Mapping[str, Any]) -> tuple[str | None, str | None]:
    user, secret = answer.get("Username"), answer.get("Secret")
    if isinstance(user, str) and isinstance(secret, str) and secret:
        return user, secret
    return None, None


def _in_cidrs(registry: str, cidrs: tuple[str, ...]) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_access(output: str) -> HostAccess:
    """``PROGRAM``'s output; what cannot be read counts as absent."""
    config: dict[str, Any] = {}
    registries: dict[str, Any] = {}
    section = ""
    for line in output.splitlines():
        if line.startswith("--- "):
            section = line[4:].strip()
            continue
        if not line.strip():
            continue
        try:
            if section == "config":
                config = json.loads(base64.b64decode(line.strip()).decode())
            elif section == "registries":
                registries = json.loads(line)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    if not isinstance(config, dict):
        config = {}
    if not isinstance(registries, dict):
        registries = {}
    auths = config.get("auths") if isinstance(config.get("auths"), dict) else {}
    helpers = config.get("credHelpers") if isinstance(config.get("credHelpers"), dict) else {}
    store = config.get("credsStore") if isinstance(config.get("credsStore"), str) else None
    indexes = (
        registries.get("IndexConfigs") if isinstance(registries.get("IndexConfigs"), dict) else {}
    )
    insecure = frozenset(
        str(name)
        for name, index in (indexes or {}).items()
        if isinstance(index, dict) and index.get("Secure") is False
    )
    cidrs = registries.get("InsecureRegistryCIDRs") or []
    return HostAccess(
        {str(k): v for k, v in (auths or {}).items() if isinstance(v, dict)},
        {str(k): str(v) for k, v in (helpers or {}).items()},
        store,
        insecure,
        tuple(str(c) for c in cidrs if isinstance(c, str)),
    )
