"""``cf secrets``: show and edit a stack's SOPS-encrypted secrets (``.env.sops``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compose_farm.cli.common import ConfigOption, StackArg, fail, load

if TYPE_CHECKING:
    from compose_farm.config import Config

app = typer.Typer(
    help="Show and edit stacks' encrypted secrets (.env.sops, SOPS with age keys).",
    no_args_is_help=True,
)

NEW_FILE = """\
# {stack}: secrets handed to `docker compose` as environment variables.
# One NAME=value per line; the value is everything after '=' (no quotes needed);
# \\n stands for a newline. Lines starting with # are comments.
"""


def _stack(config: str | None, stack: str) -> tuple[Config, Path]:
    from compose_farm.sops import sops_path

    cfg = load(config)
    if stack not in cfg.stacks:
        fail(f"unknown stack {stack!r}", hint="cf list shows the configured stacks")
    return cfg, sops_path(cfg, stack)


@app.command()
def show(
    stack: StackArg,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the values too (they are secrets).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Print the names of a stack's secrets, values masked (unless --reveal)."""
    from compose_farm.sops import SopsValues

    cfg, path = _stack(config, stack)
    if not path.is_file():
        fail(f"{stack} has no encrypted secrets ({path} does not exist)", hint=_create_hint(stack))
    values = SopsValues(cfg, os.environ).of(stack)
    for name, value in values.items():
        typer.echo(f"{name}={value if reveal else '***'}")


@app.command()
def edit(
    stack: StackArg,
    age: Annotated[
        str | None,
        typer.Option(
            "--age",
            help="Create the file, encrypted for these age recipients (comma-separated).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Open a stack's decrypted secrets in $VISUAL / $EDITOR, check them, re-encrypt.

    The plaintext lives only in a private temporary folder (0700) that is removed
    afterwards, even on an error or Ctrl-C. The file keeps its recipients.
    """
    from compose_farm.sops import check_text, decrypt_text, encrypt_new, private_folder, reencrypt

    _cfg, path = _stack(config, stack)
    exists = path.is_file()
    if not exists and not age:
        fail(f"{stack} has no encrypted secrets yet ({path})", hint=_create_hint(stack))
    if exists and age:
        fail(f"{path} exists: it keeps its recipients (change them with `sops updatekeys`)")
    text = decrypt_text(path, stack, os.environ) if exists else NEW_FILE.format(stack=stack)
    editor = _editor()
    with private_folder() as folder:
        plain = folder / f"{stack}.env"
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        while True:
            _run_editor(editor, plain)
            edited = plain.read_text(encoding="utf-8")
            problems = check_text(edited)
            if not problems:
                break
            for problem in problems:
                typer.echo(f"{plain.name}: {problem}", err=True)
            if not (sys.stdin.isatty() and typer.confirm("Edit again?", default=True)):
                fail(f"{path} was not changed: the edited text is not valid")
        if edited == text:
            typer.echo(f"{stack}: no change")
            return
        if exists:
            from compose_farm.backups import Backups

            # the old file (encrypted): its values stay masked while containers still run them
            Backups.default(os.environ).keep(stack, path)
            changed = reencrypt(path, edited, stack, os.environ)
        else:
            assert age is not None
            encrypt_new(path, edited, age, stack, os.environ)
            changed = True
    if changed:
        typer.echo(f"{stack}: saved {path} (encrypted); `cf up {stack}` recreates what uses it")
    else:
        typer.echo(f"{stack}: no change")


def _create_hint(stack: str) -> str:
    return f"create it with: cf secrets edit {stack} --age AGE_PUBLIC_KEY (see docs/secrets.md)"


def _editor() -> list[str]:
    """``$VISUAL`` or ``$EDITOR`` as a command (``vi`` without either)."""
    variable = next((v for v in ("VISUAL", "EDITOR") if os.environ.get(v)), None)
    if variable is None:
        return ["vi"]
    hint = f"set {variable} to an editor command, e.g. {variable}=nano"
    try:
        argv = shlex.split(os.environ[variable])
    except ValueError as exc:
        fail(f"${variable} is not a valid command line ({exc})", hint=hint)
    if not argv:
        fail(f"${variable} is blank", hint=hint)
    return argv


def _run_editor(argv: list[str], path: Path) -> None:
    try:
        done = subprocess.run([*argv, str(path)], check=False)
    except OSError as exc:
        fail(f"cannot run the editor {argv[0]!r}: {exc.strerror or exc}")
    if done.returncode != 0:
        fail(f"the editor exited with status {done.returncode}; nothing was saved")
