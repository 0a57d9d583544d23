"""``cf pull-config``: fetch the farm's git branch, show the new commit's plan, apply it."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from compose_farm.cli.common import ConfigOption, DryRunOption, fail, finish, load, run_async
from compose_farm.status import ExitStatus, status_of


def pull_config(
    dry_run: DryRunOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the commit and its plan as JSON (with --dry-run).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Fetch the config's git branch, show the new commit and its plan, then check it out
    and apply it (back to the old commit if the apply fails). See docs/git.md."""
    from rich.prompt import Confirm

    from compose_farm.cli.reconcile import _print_sections
    from compose_farm.cli.render import summary
    from compose_farm.cli.session import open_session
    from compose_farm.operations.apply import Preview
    from compose_farm.operations.gitpull import incoming, pull

    if as_json and not dry_run:
        fail("--json prints the plan only: use it with --dry-run")
    cfg = load(config)

    async def main() -> ExitStatus:
        found = await incoming(cfg)
        async with open_session(found.config, who="cf pull-config") as session:
            console = session.console
            if not as_json:
                for line in found.lines():
                    console.print(line, style="bold", highlight=False)

            def show(planned: Preview) -> None:
                if as_json:
                    sections = [
                        {"title": s.title, "lines": list(s.lines)} for s in planned.sections()
                    ]
                    document = {**found.public(), "plan": sections, "warnings": planned.warnings()}
                    print(json.dumps(document, indent=2))
                    return
                for why in planned.warnings():
                    console.print(f"warning: {why}", style="yellow", highlight=False)
                if found.pending:
                    _print_sections(console, list(planned.sections()))
                    if planned.plan.empty:
                        console.print("Placement unchanged by this commit.", style="green")
                if found.refusal and found.pending:
                    console.print(f"cannot apply now: {found.refusal}", style="yellow")
                if dry_run:
                    console.print("Dry run: nothing was changed.", style="dim")

            def show_applied(planned: Preview) -> None:
                console.print("Applying the checked-out commit:", style="bold")
                _print_sections(console, list(planned.sections()))
                if planned.plan.empty:
                    console.print("Nothing to change on the hosts.", style="green")

            async def confirm(_planned: Preview) -> bool:
                if not sys.stdin.isatty() or yes:
                    return True
                if Confirm.ask(f"Check out {found.commit.short} and apply it?"):
                    return True
                console.print("Nothing was changed.")
                return False

            done = await pull(
                session.ops,
                found,
                show=show,
                show_applied=show_applied,
                confirm=confirm,
                dry_run=dry_run,
            )
            if done.applied is None:
                if dry_run or not found.pending:
                    return status_of((), held=done.preview.held)
                return ExitStatus.FAILED  # declined
            outcomes = list(done.applied.outcomes or ())
            if outcomes:
                summary(console, outcomes, "pull-config", mask=session.printer.mask)
            if done.ok:
                return ExitStatus.OK
            status = status_of(outcomes, held=done.applied.preview.held)
            return status if status is not ExitStatus.OK else ExitStatus.FAILED

    finish(run_async(main()))
