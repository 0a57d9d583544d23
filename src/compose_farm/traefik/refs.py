"""References across providers: which provider a router's names resolve in.

Traefik resolves an unqualified name in a router's ``service`` or
``middlewares`` (and in a ``chain``'s or an ``errors`` middleware's) in the
provider that defines the router or middleware. The file holds the stacks away
from the Traefik host; Traefik's Docker provider defines the ones on it. So,
in the generated file:

- ``auth`` that only the Docker provider defines becomes ``auth@docker``;
- ``auth@docker`` that only the file defines (its stack is remote now)
  becomes ``auth``;
- anything else stays as written (another file, ``@internal``, a typo that
  Traefik will report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (protocol, kind, name): ("http", "middlewares", "auth")
Name = tuple[str, str, str]

DOCKER = "docker"


def resolve(document: dict[str, Any], docker: frozenset[Name]) -> None:
    """Rewrite, in place, the references of ``document`` (the file) against ``docker``."""
    for protocol, sections in document.items():
        here = {(protocol, kind, name) for kind in KINDS for name in sections.get(kind, {})}
        names = _Resolver(protocol, here, docker)
        for router in sections.get("routers", {}).values():
            if "service" in router:
                router["service"] = names.one("services", router["service"])
            if "middlewares" in router:
                router["middlewares"] = names.each("middlewares", router["middlewares"])
        for middleware in sections.get("middlewares", {}).values():
            chain = middleware.get("chain")
            if isinstance(chain, dict) and "middlewares" in chain:
                chain["middlewares"] = names.each("middlewares", chain["middlewares"])
            errors = middleware.get("errors")
            if isinstance(errors, dict) and "service" in errors:
                errors["service"] = names.one("services", errors["service"])


KINDS = ("services", "middlewares")


@dataclass(frozen=True)
class _Resolver:
    """References of one protocol: ``here`` is what the file defines, ``docker`` the rest."""

    protocol: str
    here: set[Name]
    docker: frozenset[Name]

    def one(self, kind: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # malformed labels: Traefik reports them
        name, at, provider = value.partition("@")
        key = (self.protocol, kind, name)
        if not at:
            return f"{name}@{DOCKER}" if key not in self.here and key in self.docker else value
        if provider == DOCKER and key in self.here and key not in self.docker:
            return name
        return value

    def each(self, kind: str, values: Any) -> Any:
        return [self.one(kind, v) for v in values] if isinstance(values, list) else values
