"""The root Typer app: command groups and ``--version`` (``cli/app.py`` runs it)."""

from __future__ import annotations

from typing import Annotated

import typer

from compose_farm import __version__
from compose_farm.cli import completion, lifecycle, management, monitoring, stats, sync, web
from compose_farm.cli import config as config_cmds
from compose_farm.cli import secrets as secrets_cmds
from compose_farm.cli import ssh as ssh_cmds
from compose_farm.cli.gitpull import pull_config

app = typer.Typer(
    name="cf",
    help="Compose Farm: run docker compose stacks across hosts over SSH.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion: cli/completion.py
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
completion.use_zsh_script()
app.add_typer(config_cmds.app, name="config")
app.add_typer(ssh_cmds.app, name="ssh")
app.add_typer(secrets_cmds.app, name="secrets")
lifecycle.register(app)
management.register(app)
monitoring.register(app)
stats.register(app)
sync.register(app)
web.register(app)
app.command("pull-config")(pull_config)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"compose-farm {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say how each host was reached.")
    ] = False,
) -> None:
    """Compose Farm: run docker compose stacks across hosts over SSH."""
    if verbose:
        import logging

        logging.basicConfig(format="cf: %(message)s")
        logging.getLogger("compose_farm").setLevel(logging.INFO)
