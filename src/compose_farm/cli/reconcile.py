"""``cf apply`` and ``cf refresh``: read the facts, compare, show, then act."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from compose_farm.cli.common import (
    ConfigOption,
    DryRunOption,
    finish,
    load,
    run_async,
    warm_up,
)
from compose_farm.status import ExitStatus, status_of

APPLY_MODULES = (
    "rich.prompt",
    "compose_farm.cli.render",
    "compose_farm.cli.session",
    "compose_farm.operations.apply",
    "compose_farm.plan",
)


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
    from compose_farm.executor import Executor

    cfg = load(config)

    async def main() -> ExitStatus:
        # the hosts' handshakes while the rest of the command imports
        await warm_up(executor := Executor(cfg), APPLY_MODULES)
        from rich.prompt import Confirm

        from compose_farm.cli.render import summary
        from compose_farm.cli.session import open_session
        from compose_farm.operations.apply import Preview
        from compose_farm.operations.apply import apply as run_apply
        from compose_farm.plan import PlanOptions

        options = PlanOptions(orphans=not no_orphans, strays=not no_strays, full=full)
        async with open_session(cfg, prune_data=prune_data, who="cf apply", on=executor) as session:
            console = session.console

            def show(found: Preview) -> None:
                for why in found.warnings():
                    console.print(f"warning: {why}", style="yellow", highlight=False)
                _print_sections(console, list(found.sections()))
                if found.plan.empty:
                    console.print("Nothing to do: the hosts match the config.", style="green")
                if dry_run:
                    console.print("Dry run: nothing was changed.", style="dim")

            async def confirm(_found: Preview) -> bool:
                if not sys.stdin.isatty() or yes:
                    return True
                if Confirm.ask("Apply these changes?"):
                    return True
                console.print("Nothing was changed.")
                return False

            done = await run_apply(
                session.ops, options, show=show, confirm=confirm, dry_run=dry_run
            )
            if done.outcomes is None:
                declined = not dry_run and not done.preview.plan.empty
                return ExitStatus.FAILED if declined else status_of((), held=done.preview.held)
            summary(console, list(done.outcomes), "apply", mask=session.printer.mask)
            return status_of(done.outcomes, held=done.preview.held)

    finish(run_async(main(), warming=True))


def refresh(dry_run: DryRunOption = False, config: ConfigOption = None) -> None:
    """Update the state file from what actually runs; record image digests."""
    from compose_farm.cli.session import open_session
    from compose_farm.operations.refresh import refresh as run_refresh

    cfg = load(config)

    async def main() -> ExitStatus:
        async with open_session(cfg, who="cf refresh") as session:
            console = session.console
            done = await run_refresh(session.ops, dry_run=dry_run)
            for change in done.found.changes:
                before = ", ".join(change.before) or "-"
                after = ", ".join(change.after) or "-"
                console.print(f"  {change.stack}: {before} -> {after}")
            for host, why in done.unreachable.items():
                console.print(
                    f"warning: {why}; kept its {done.kept[host]} stacks in state", style="yellow"
                )
            for stack, hosts in done.found.unmanaged.items():
                console.print(f"  not managed by cf: {stack} on {', '.join(hosts)}", style="dim")
            if not done.found.changes:
                console.print("State already matches the hosts.", style="green")
            if dry_run:
                console.print("Dry run: nothing was written.", style="dim")
            else:
                console.print(
                    f"State written to {session.store.path}; digests to {cfg.digest_log_path}.",
                    style="dim",
                )
            return status_of((), held=done.held)

    finish(run_async(main()))
