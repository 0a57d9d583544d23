"""``cf sync`` (stack folders to hosts) and ``cf prune-data`` (data copies left by moves)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from compose_farm.cli.common import (
    AllOption,
    ConfigOption,
    DryRunOption,
    HostOption,
    StacksArg,
    finish,
    load,
    run_async,
    select_stacks,
)
from compose_farm.status import ExitStatus, status_of

if TYPE_CHECKING:
    from compose_farm.cli.session import Session
    from compose_farm.operations.lifecycle import Outcome


def sync(
    stacks: StacksArg = None,
    all_stacks: AllOption = False,
    host: HostOption = None,
    dry_run: DryRunOption = False,
    delete: Annotated[
        bool, typer.Option("--delete", help="Also remove files on the host that are gone here.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Copy stack folders from this machine to their hosts (only what changed)."""
    from compose_farm.cli.session import open_session
    from compose_farm.errors import TransferError
    from compose_farm.operations.lifecycle import Outcome
    from compose_farm.sync.stackdir import describe, sync_stack

    cfg = load(config)
    names = select_stacks(cfg, stacks, all_stacks, host)

    async def main() -> ExitStatus:
        async with open_session(cfg, names) as session:
            outcomes: list[Outcome] = []
            for stack in names:
                if not cfg.stacks[stack].sync:
                    note = f"sync is off for {stack} (set `sync: true` for it, or farm-wide)"
                    session.console.print(note, style="yellow")
                    continue
                for target in cfg.stacks[stack].hosts:
                    if host not in (None, target):
                        continue
                    try:
                        done = await sync_stack(
                            session.executor,
                            cfg,
                            stack,
                            target,
                            delete=delete or None,
                            dry_run=dry_run,
                        )
                    except TransferError as exc:
                        outcomes.append(Outcome(stack, (), False, exc.message, exc.unreachable))
                        continue
                    session.ops.info(stack, target, describe(done, dry_run=dry_run))
                    for path in done.changes.send if dry_run else ():
                        session.ops.info(stack, target, f"  send {path}")
                    for path in done.changes.delete if dry_run else ():
                        session.ops.info(stack, target, f"  delete {path}")
                    outcomes.append(Outcome(stack, (target,), True))
            return _report(session, outcomes, "sync", "nothing was changed" if dry_run else None)

    finish(run_async(main()))


def prune_data(
    stacks: StacksArg = None,
    dry_run: DryRunOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
) -> None:
    """Remove the data copies moves left on hosts where a stack no longer runs."""
    from rich.prompt import Confirm

    from compose_farm.cli.session import open_session
    from compose_farm.operations.lifecycle import Outcome
    from compose_farm.state import StateStore

    cfg = load(config)
    state = StateStore(cfg.state_path).read()
    names = select_stacks(cfg, stacks, False, None) if stacks else sorted(state.data_left)
    names = [s for s in names if s in cfg.stacks and cfg.stacks[s].data]
    if not names:
        typer.echo("No data copies to prune.")
        return
    for stack in names:
        left = ", ".join(state.data_left_on(stack)) or "no host recorded"
        typer.echo(f"{stack}: old data copies on {left}, and any folders a move set aside")
    asking = not dry_run and sys.stdin.isatty() and not yes
    if asking and not Confirm.ask("Remove these copies?"):
        typer.echo("Nothing was changed.")
        raise SystemExit(ExitStatus.FAILED)

    async def main() -> ExitStatus:
        async with open_session(cfg, names) as session:
            outcomes = []
            for stack in names:
                hosts = session.store.read().data_left_on(stack)
                cleaned = await session.ops.prune_copies(stack, hosts, dry_run=dry_run)
                missed = [h for h in hosts if h not in cleaned]
                if missed and not dry_run:
                    why = f"could not prune on {', '.join(missed)} (see above)"
                    outcomes.append(Outcome(stack, tuple(cleaned), False, why))
                else:
                    outcomes.append(Outcome(stack, tuple(cleaned), True))
            dry = "nothing was removed" if dry_run else None
            return _report(session, outcomes, "prune-data", dry)

    finish(run_async(main()))


def _report(session: Session, outcomes: list[Outcome], verb: str, dry: str | None) -> ExitStatus:
    """The summary (after a dry run's note); the exit code: 4 when every failure was a
    host that could not be reached, else 1."""
    from compose_farm.cli.render import summary

    if dry is not None:
        session.console.print(f"Dry run: {dry}.", style="dim")
    summary(session.console, outcomes, verb)
    return status_of(outcomes)


def register(app: typer.Typer) -> None:
    """Add ``sync`` and ``prune-data`` to the root app."""
    app.command()(sync)
    app.command("prune-data")(prune_data)
