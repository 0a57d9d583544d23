"""The one way to make ``Operations`` for a command, from the CLI or the web.

Both front ends get the same hooks: with ``traefik_file`` set, the Traefik
file is rewritten from the state after every change of placement, and its
warnings and the update go to the same sink as everything else, as lines of
the farm (``stack=None, host=""``) that each front end shows its way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from compose_farm.config import Config
from compose_farm.executor import ExecutorProtocol, Sink, notice
from compose_farm.operations.lifecycle import Operations
from compose_farm.operations.selfupdate import guarded
from compose_farm.state import StateStore


def traefik_hook(
    config: Config, store: StateStore, environ: Mapping[str, str], sink: Sink
) -> Callable[[], Awaitable[None]]:
    """Rewrite ``traefik_file`` from the state (only if its text changed); say so."""

    async def regenerate() -> None:
        from compose_farm.traefik import regenerate as write

        changed, warnings = write(config, store.read(), environ)
        for warning in warnings:
            sink(notice(f"traefik: {warning}", warning=True))
        if changed:
            sink(notice(f"traefik: updated {config.traefik_file}"))

    return regenerate


def operations_for(
    config: Config,
    executor: ExecutorProtocol,
    sink: Sink,
    environ: Mapping[str, str],
    *,
    prune_data: bool = False,
    who: str = "cf",
) -> Operations:
    """``Operations`` on ``config``'s state file, with the farm's hooks; ``who`` names
    the command in the farm lock while it holds it. When cf runs in a stack it manages,
    that stack's changing commands run detached from cf (``selfupdate.py``)."""
    executor = guarded(executor, environ)
    store = StateStore(config.state_path)
    hooks = () if config.traefik_file is None else (traefik_hook(config, store, environ, sink),)
    return Operations(
        config, executor, store, sink, environ, prune_data=prune_data, after_change=hooks, who=who
    )
