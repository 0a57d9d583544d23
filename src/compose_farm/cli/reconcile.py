"""``cf apply`` and ``cf refresh``: read the facts, compare, show, then act."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from compose_farm.cli.common import ConfigOption, DryRunOption, load, run_async


def _print_sections(console: object, sections: list[object]) -> None:
    from rich.console import Console
    from rich.text import Text

    from compose_farm.plan import Section

    assert isinstance(console, Console)
    for section in sections:
        assert isinstance(section, Section)
        held = section.title == "Held back"
        console.print(Text(section.title + ":", style="bold yellow" if held else "bold"))
        for line in section.lines:
            console.print(Text(("  ! " if held else "  - ") + line), highlight=False)


def apply(
    dry_run: DryRunOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    no_orphans: Annotated[
        bool, typer.Option("--no-orphans", help="Leave stacks that left the config running.")
    ] = False,
    no_strays: Annotated[
        bool, typer.Option("--no-strays", help="Leave stacks running on hosts not meant for them.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Also recreate every stack where it already runs.")
    ] = False,
    prune_data: Annotated[
        bool,
        typer.Option(
            "--prune-data",
            help="After a verified move of a stack with data, remove the old host's copy.",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Make the hosts match the config: stop orphans and strays, migrate, start what is missing."""
    from rich.prompt import Confirm

    from compose_farm.cli.render import summary
    from compose_farm.cli.session import open_session
    from compose_farm.facts import gather_facts
    from compose_farm.farmlock import farm_lock
    from compose_farm.operations.reconcile import corrected_state, execute
    from compose_farm.plan import PlanOptions, describe, plan_from_facts

    cfg = load(config)
    options = PlanOptions(orphans=not no_orphans, strays=not no_strays, full=full)

    async def main() -> int:
        async with open_session(cfg, prune_data=prune_data) as session:
            console = session.console
            with farm_lock(cfg.farm_lock_path, lambda m: console.print(m, style="dim")):
                facts = await gather_facts(cfg, session.executor)
                plan = plan_from_facts(cfg, session.store.read(), facts, options)
                for why in facts.unreachable().values():
                    console.print(f"warning: {why}", style="yellow", highlight=False)
                _print_sections(console, list(describe(plan)))
                await _print_data_moves(session, plan)
                held = 4 if plan.blocked or facts.unreachable() else 0
                if plan.empty:
                    console.print("Nothing to do: the hosts match the config.", style="green")
                if dry_run:
                    console.print("Dry run: nothing was changed.", style="dim")
                    return held
                if plan.empty:
                    session.store.modify(lambda state: corrected_state(state, facts, cfg))
                    await session.ops.changed()
                    return held
                if sys.stdin.isatty() and not yes and not Confirm.ask("Apply these changes?"):
                    console.print("Nothing was changed.")
                    return 1
                outcomes = await execute(session.ops, plan, facts)
                ok = summary(console, outcomes, "apply", mask=session.printer.mask)
                return held if ok else 1

    code = run_async(main())
    if code:
        raise SystemExit(code)


async def _print_data_moves(session: object, plan: object) -> None:
    """For each move of a stack with data folders: how much the move will copy."""
    from rich.text import Text

    from compose_farm.cli.session import Session
    from compose_farm.errors import TransferError
    from compose_farm.plan import Plan, StepKind
    from compose_farm.sync.datamove import estimate

    assert isinstance(session, Session) and isinstance(plan, Plan)
    moves = [s for s in plan.of_kind(StepKind.MIGRATE) if session.config.stacks[s.stack].data]
    if not moves:
        return
    session.console.print(Text("Data to copy:", style="bold"))
    state = session.store.read()
    for step in moves:
        old, new = step.source or "", step.hosts[0]
        reuse = new in state.data_left_on(step.stack)
        try:
            folders = await estimate(
                session.executor, session.config, step.stack, old, new, reuse=reuse
            )
        except TransferError as exc:
            session.console.print(Text(f"  ! {step.stack}: {exc.message}", style="yellow"))
            continue
        for folder in folders:
            line = f"  - {step.stack} ({old} -> {new}): {folder.describe()}"
            session.console.print(Text(line), highlight=False)


def refresh(dry_run: DryRunOption = False, config: ConfigOption = None) -> None:
    """Update the state file from what actually runs; record image digests."""
    from datetime import UTC, datetime

    from compose_farm.cli.session import open_session
    from compose_farm.digests import merge, read_log, sightings, write_log
    from compose_farm.facts import gather_facts
    from compose_farm.farmlock import farm_lock
    from compose_farm.operations.refresh import refresh_state

    cfg = load(config)

    async def main() -> int:
        async with open_session(cfg) as session:
            console, store = session.console, session.store
            with farm_lock(cfg.farm_lock_path, lambda m: console.print(m, style="dim")):
                facts = await gather_facts(cfg, session.executor, images=True)
                result = refresh_state(cfg, store.read(), facts)
                for change in result.changes:
                    before = ", ".join(change.before) or "-"
                    after = ", ".join(change.after) or "-"
                    console.print(f"  {change.stack}: {before} -> {after}")
                for host, why in facts.unreachable().items():
                    kept = [s for s, h in store.read().deployed.items() if host in h]
                    console.print(
                        f"warning: {why}; kept its {len(kept)} stacks in state", style="yellow"
                    )
                for stack, hosts in result.unmanaged.items():
                    console.print(
                        f"  not managed by cf: {stack} on {', '.join(hosts)}", style="dim"
                    )
                if not result.changes:
                    console.print("State already matches the hosts.", style="green")
                if dry_run:
                    console.print("Dry run: nothing was written.", style="dim")
                    return 4 if facts.unreachable() else 0
                store.replace(result.state)
                await session.ops.changed()
                now = datetime.now(UTC).replace(microsecond=0).isoformat()
                log_path = cfg.digest_log_path
                managed = set(cfg.stacks) | set(result.state.deployed)
                write_log(log_path, merge(read_log(log_path), sightings(facts, now, managed)))
                console.print(f"State written to {store.path}; digests to {log_path}.", style="dim")
                return 4 if facts.unreachable() else 0

    code = run_async(main())
    if code:
        raise SystemExit(code)
