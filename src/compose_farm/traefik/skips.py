"""What cf leaves out of the file, and the routers that would have pointed at it.

A Traefik service cf cannot build (no reachable published port, malformed
labels) or that Traefik's Docker provider would drop (two containers define
it differently) is left out with a warning. A router that sends traffic to
it, directly or through a middleware chain, is left out too: Traefik would
only log an error for it and route nothing. The warning names the stack, the
compose service, what was left out, the routers left out with it, and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from compose_farm.traefik.refs import Name


@dataclass
class Skip:
    """One thing left out (``what``: ``Traefik service app``) by ``where``, and why."""

    where: str
    what: str
    reason: str
    routers: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.routers:
            return f"{self.where}: {self.what} skipped: {self.reason}"
        routers = ("routers " if len(self.routers) > 1 else "router ") + ", ".join(self.routers)
        return f"{self.where}: {self.what} skipped, and {routers} with it: {self.reason}"


def prune(
    document: dict[str, Any], skipped: Mapping[Name, Skip], origins: Mapping[Name, str]
) -> None:
    """Remove, in place, the routers of ``document`` that use something ``skipped``.

    A name counts as skipped only when the file does not define it after all
    (another container or stack may). ``origins`` says where each router comes
    from (``stack S, service C``), for the warning.
    """
    for protocol, sections in document.items():
        missing: dict[tuple[str, str], Skip] = {
            (kind, name): skip
            for (p, kind, name), skip in skipped.items()
            if p == protocol and name not in sections.get(kind, {})
        }
        middlewares = sections.get("middlewares", {})
        grown = True
        while grown:  # a chain that uses a missing middleware is missing too
            grown = False
            for name, middleware in middlewares.items():
                cause = None if ("middlewares", name) in missing else _cause(middleware, missing)
                if cause is not None:
                    missing[("middlewares", name)] = cause
                    grown = True
        routers = sections.get("routers", {})
        for name in list(routers):
            cause = _cause(routers[name], missing, router=True)
            if cause is not None:
                del routers[name]
                cause.routers.append(_named(name, origins.get((protocol, "routers", name)), cause))
    _drop_empty(document)


def _cause(
    definition: dict[str, Any], missing: Mapping[tuple[str, str], Skip], router: bool = False
) -> Skip | None:
    """The first skip behind a name ``definition`` (a router or a middleware) uses, or None."""
    for kind, ref in _uses(definition, router):
        name, at, provider = ref.partition("@")
        if at and provider != "file":
            continue  # another provider's (docker, internal): not the file's to judge
        if (kind, name) in missing:
            return missing[(kind, name)]
    return None


def _uses(definition: dict[str, Any], router: bool) -> Iterator[tuple[str, str]]:
    """The (kind, name) references of a router, or of a chain or errors middleware."""
    if router:
        if isinstance(definition.get("service"), str):
            yield "services", definition["service"]
        yield from _each("middlewares", definition.get("middlewares"))
        return
    chain = definition.get("chain")
    if isinstance(chain, dict):
        yield from _each("middlewares", chain.get("middlewares"))
    errors = definition.get("errors")
    if isinstance(errors, dict) and isinstance(errors.get("service"), str):
        yield "services", errors["service"]


def _each(kind: str, refs: Any) -> Iterator[tuple[str, str]]:
    if isinstance(refs, list):
        yield from ((kind, r) for r in refs if isinstance(r, str))


def _named(router: str, origin: str | None, skip: Skip) -> str:
    """``router``, with where it comes from when that is not where the skip happened."""
    if origin is None or skip.where.startswith(origin):
        return router
    stack, _, service = origin.partition(", ")
    return f"{router} ({service})" if skip.where.startswith(stack + ",") else f"{router} ({origin})"


def _drop_empty(document: dict[str, Any]) -> None:
    for protocol in list(document):
        sections = document[protocol]
        for kind in [k for k, v in sections.items() if v == {}]:
            del sections[kind]
        if not sections:
            del document[protocol]
