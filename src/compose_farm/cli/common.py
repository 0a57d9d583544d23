"""Options and helpers shared by every command group, and the one place errors become messages."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from compose_farm.config import Config
    from compose_farm.errors import FarmError

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $CF_CONFIG, ./compose-farm.yaml, "
        "$XDG_CONFIG_HOME/compose-farm/compose-farm.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def load(config: str | None) -> Config:
    """Find and load the config named by ``-c`` or the search order."""
    from compose_farm.config import find_config, load_config

    return load_config(find_config(config, os.environ))


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (one document, for scripts)."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def report(error: FarmError) -> NoReturn:
    """Print a user error (never a traceback) and exit with its code."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]Error:[/] {escape(error.message)}")
    if error.hint:
        console.print(f"[dim]Hint:[/] {escape(error.hint)}")
    raise SystemExit(error.exit_code)


def fail(message: str, *, hint: str | None = None, code: int = 2) -> NoReturn:
    """Stop the command with a user error."""
    from compose_farm.errors import UsageError

    error = UsageError(message, hint=hint)
    error.exit_code = code
    report(error)
