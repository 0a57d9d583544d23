"""``up``, ``down``, ``stop``, ``restart``, ``pull``, ``update`` and ``compose`` passthrough."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from compose_farm.cli import completion
from compose_farm.cli.common import (
    AllOption,
    ConfigOption,
    HostOption,
    ServiceOption,
    StackArg,
    StacksArg,
    check_services,
    fail,
    finish,
    load,
    run_async,
    select_stacks,
)

if TYPE_CHECKING:
    from compose_farm.config import Config
    from compose_farm.operations.lifecycle import Operations, Outcome


def _run(
    cfg: Config,
    stacks: Sequence[str],
    verb: str,
    action: Callable[[Operations], Awaitable[list[Outcome]]],
    *,
    quiet: bool = False,
    prune_data: bool = False,
) -> None:
    """Build the executor and operations, run ``action``, print a summary, set the exit code."""
    from compose_farm.cli.render import summary
    from compose_farm.cli.session import open_session
    from compose_farm.status import ExitStatus, status_of

    async def main() -> ExitStatus:
        async with open_session(cfg, stacks, prune_data=prune_data) as session:
            outcomes = await action(session.ops)
            summary(session.console, outcomes, verb, quiet=quiet, mask=session.printer.mask)
            return status_of(outcomes)

    finish(run_async(main()))


StackAction = Callable[["Operations", list[str], str | None, list[str]], Awaitable[list["Outcome"]]]


def stack_command(label: str, help_text: str, action: StackAction) -> Callable[..., None]:
    """A command taking stacks / --all / --host / --service that runs ``action`` on them."""

    def command(
        stacks: StacksArg = None,
        all_stacks: AllOption = False,
        host: HostOption = None,
        service: ServiceOption = None,
        config: ConfigOption = None,
    ) -> None:
        cfg = load(config)
        names = select_stacks(cfg, stacks, all_stacks, host)
        services = check_services(service)
        _run(cfg, names, label, lambda ops: action(ops, names, host, services))

    command.__doc__ = help_text
    return command


def _verb(*verb: str) -> StackAction:
    """An action that runs ``docker compose VERB`` where each stack runs."""
    return lambda ops, names, host, services: ops.simple(
        names, verb, only_host=host, services=services
    )


PruneDataOption = Annotated[
    bool,
    typer.Option(
        "--prune-data",
        help="After a verified move of a stack with data, remove the old host's copy.",
    ),
]


PULL_POLICIES = ("always", "missing", "never", "build")


def up(
    stacks: StacksArg = None,
    all_stacks: AllOption = False,
    host: HostOption = None,
    service: ServiceOption = None,
    build: Annotated[
        bool, typer.Option("--build", help="Build images before starting (as compose up --build).")
    ] = False,
    pull: Annotated[
        str | None,
        typer.Option(
            "--pull",
            help="Pull images before starting: always, missing, never or build "
            "(as compose up --pull).",
            show_default=False,
            autocompletion=completion.choices(*PULL_POLICIES),
        ),
    ] = None,
    prune_data: PruneDataOption = False,
    config: ConfigOption = None,
) -> None:
    """Start stacks on their hosts (moving any whose host changed in the config)."""
    cfg = load(config)
    names = select_stacks(cfg, stacks, all_stacks, host)
    services = check_services(service)
    if pull is not None and pull not in PULL_POLICIES:
        fail(f"--pull {pull}: not a pull policy; use one of {', '.join(PULL_POLICIES)}")
    flags = (("--build",) if build else ()) + (("--pull", pull) if pull else ())

    def action(ops: Operations) -> Awaitable[list[Outcome]]:
        ops.up_flags = flags
        return ops.up(names, only_host=host, services=services)

    _run(cfg, names, "up", action, prune_data=prune_data)


COMMANDS: dict[str, tuple[str, StackAction]] = {
    "down": (
        "Stop and remove stacks' containers where they run (paused: cf apply leaves them "
        "down until cf up).",
        lambda ops, names, host, services: ops.down(names, only_host=host, services=services),
    ),
    "stop": (
        "Stop stacks' containers (they stay deployed, paused: cf apply leaves them stopped).",
        lambda ops, names, host, services: ops.stop(names, only_host=host, services=services),
    ),
    "restart": ("Restart stacks' containers.", _verb("restart")),
    "pull": ("Pull stacks' images on their hosts.", _verb("pull", "--ignore-buildable")),
}


def update(
    stacks: StacksArg = None,
    all_stacks: AllOption = False,
    host: HostOption = None,
    service: ServiceOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Pull and up every stack named, even those already up to date."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Pull new images, then recreate only the containers whose image changed.

    Stacks whose running images are the ones their registries serve now are
    skipped (asked without pulling, as `cf outdated` does); --force updates all.
    """
    cfg = load(config)
    names = select_stacks(cfg, stacks, all_stacks, host)
    services = check_services(service)

    def action(ops: Operations) -> Awaitable[list[Outcome]]:
        return ops.update(names, only_host=host, services=services, force=force)

    _run(cfg, names, "update", action)


RAW_SUBCOMMANDS = frozenset({"exec", "run", "attach"})


def compose_passthrough(
    ctx: typer.Context,
    stack: StackArg,
    host: HostOption = None,
    config: ConfigOption = None,
) -> None:
    """Run any `docker compose` subcommand for a stack: cf compose STACK ARGS..."""
    cfg = load(config)
    names = select_stacks(cfg, [stack], False, host)
    args = list(ctx.args)
    if not args:
        fail("say which compose subcommand to run, e.g. cf compose STACK ps")
    from compose_farm.executor import compose
    from compose_farm.operations.lifecycle import where
    from compose_farm.state import StateStore

    if args[0] in RAW_SUBCOMMANDS and sys.stdin.isatty():
        hosts = where(cfg, StateStore(cfg.state_path).read(), stack, host)
        if not hosts:
            fail(f"{stack} is not on host {host}")
        command = compose(cfg.stack_dir(stack), *args)
        if len(hosts) > 1:
            fail(f"{stack} runs on {', '.join(hosts)}: pick one with --host")

        from compose_farm.executor.local import is_local_address
        from compose_farm.ssh.identity import SshIdentity
        from compose_farm.ssh.raw import run_raw

        hcfg = cfg.hosts[hosts[0]]
        local = hcfg.is_local or is_local_address(hcfg.address)
        status = run_raw(None if local else hcfg, SshIdentity.of(cfg), command)
        raise SystemExit(status)

    run_on_hosts(cfg, names, host, args, f"compose {args[0]}")


def run_on_hosts(
    cfg: Config, names: Sequence[str], host: str | None, args: Sequence[str], verb: str
) -> None:
    """``docker compose ARGS`` for each stack wherever it runs (``--host``: only there).

    Without the farm lock: ``logs -f`` or a shell would hold it for as long as they
    run, and ``cf apply`` would wait for them."""
    _run(
        cfg,
        names,
        verb,
        lambda ops: ops.simple(names, tuple(args), only_host=host, exclusive=False),
        quiet=True,
    )


def rollback(
    stack: StackArg,
    service: ServiceOption = None,
    host: HostOption = None,
    config: ConfigOption = None,
) -> None:
    """Bring back the images a stack's services ran before their last update.

    On each host the image's tag is pointed at the old image again (pulled
    by digest if the host no longer has it) and only those services are
    recreated; compose files are not touched. Run it again to go forward.
    """
    from compose_farm.cli.session import open_session
    from compose_farm.operations.rollback import rollback as run_rollback
    from compose_farm.status import ExitStatus

    cfg = load(config)
    [name] = select_stacks(cfg, [stack], False, host)
    services = check_services(service)

    async def main() -> ExitStatus:
        async with open_session(cfg, [name], who="cf rollback") as session:
            done = await run_rollback(session.ops, name, services, host)
            if not done:
                session.console.print(
                    f"{name}: no earlier image recorded (cf records one when `cf update` "
                    "replaces an image)",
                    style="yellow",
                )
                return ExitStatus.FAILED
            from rich.text import Text

            for result in done:
                style = "green" if result.ok else "red"
                session.console.print(Text(session.printer.mask(name, result.line()), style=style))
            return ExitStatus.OK if all(r.ok for r in done) else ExitStatus.FAILED

    finish(run_async(main()))


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to the root app."""
    app.command("up")(up)
    for name, (help_text, action) in COMMANDS.items():
        app.command(name)(stack_command(name, help_text, action))
    app.command("update")(update)
    app.command("rollback")(rollback)
    from compose_farm.cli.reconcile import apply

    app.command()(apply)
    app.command(
        "compose",
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "allow_interspersed_args": False,
        },
    )(compose_passthrough)
