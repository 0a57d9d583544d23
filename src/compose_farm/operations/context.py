"""The one way to make ``Operations`` for a command, from the CLI or the web.

Both front ends get the same hooks: with ``traefik_file`` set, the Traefik
file is rewritten from the state after every change of placement, and its
warnings and the update go to the same sink as everything else, as lines of
the farm (``stack=None, host=""``) that each front end shows its way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from compose_farm.config import Config
from compose_farm.executor import Executor, OutputLine, Sink
from compose_farm.operations.lifecycle import Operations
from compose_farm.state import StateStore


def farm_line(sink: Sink, text: str, *, warning: bool = False) -> None:
    """A line about the farm, not one stack or host (a notice, a warning)."""
    sink(OutputLine(host="", stack=None, stream="stderr" if warning else "info", line=text))


def traefik_hook(
    config: Config, store: StateStore, environ: Mapping[str, str], sink: Sink
) -> Callable[[], Awaitable[None]]:
    """Rewrite ``traefik_file`` from the state (only if its text changed); say so."""

    async def regenerate() -> None:
        from compose_farm.traefik import regenerate as write

        changed, warnings = write(config, store.read(), environ)
        for warning in warnings:
            farm_line(sink, f"traefik: {warning}", warning=True)
        if changed:
            farm_line(sink, f"traefik: updated {config.traefik_file}")

    return regenerate


def operations_for(
    config: Config,
    executor: Executor,
    sink: Sink,
    environ: Mapping[str, str],
    *,
    prune_data: bool = False,
) -> Operations:
    """``Operations`` on ``config``'s state file, with the farm's hooks."""
    store = StateStore(config.state_path)
    hooks = () if config.traefik_file is None else (traefik_hook(config, store, environ, sink),)
    return Operations(
        config, executor, store, sink, environ, prune_data=prune_data, after_change=hooks
    )
