"""``cf config``: create, find, show, check, edit and link the config file."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from compose_farm.cli.common import ConfigOption, JsonOption, fail, load, print_json

app = typer.Typer(help="Create, show, validate and edit the config file.", no_args_is_help=True)

TEMPLATE = """\
# Compose Farm config. Reference: https://github.com/compose-farm (README, "Config reference").
# Every host must see the compose folders at this same path.
{compose_dir}

# Host name -> address, or a mapping with address / user / port / identity_file.
# user and port default to ~/.ssh/config, then to your user name and 22.
hosts:
  local: localhost
  # nuc: 192.168.1.10
  # hp: {{address: 192.168.1.11, user: admin, port: 2222}}

# Stack (a folder in compose_dir) -> a host, a list of hosts, or "all".
{stacks}
# traefik_file: /opt/traefik/dynamic.d/compose-farm.yml
# traefik_stack: traefik
"""


def _target_path(config: str | None) -> tuple[Path, str]:
    """Where ``init``/``symlink`` act: ``-c``, ``$CF_CONFIG``, else the XDG location;
    and a hint saying how to choose another place, for when that one is unusable."""
    from compose_farm.config import CONFIG_FILENAME

    if config:
        return Path(config).expanduser(), "pass -c a file in a folder you can write"
    if os.environ.get("CF_CONFIG"):
        return Path(os.environ["CF_CONFIG"]).expanduser(), "set CF_CONFIG to a file you can write"
    if os.environ.get("XDG_CONFIG_HOME"):
        where = Path(os.environ["XDG_CONFIG_HOME"]).expanduser()
        hint = "set XDG_CONFIG_HOME to a folder you can write, or set CF_CONFIG to a file"
    else:
        where = Path.home() / ".config"
        hint = f"make {where} a folder you can write, or set CF_CONFIG to a file"
    return where / "compose-farm" / CONFIG_FILENAME, hint


def _starter(compose_dir: Path, stacks: list[str]) -> str:
    """The starter config's text; names are written by the YAML dumper, so a stack
    folder called ``true`` or ``null`` is quoted and stays a name."""
    from compose_farm.yamlio import dump_yaml

    if stacks:
        listed = dump_yaml({"stacks": dict.fromkeys(stacks, "local")})
    else:
        listed = "stacks:\n  # plex: nuc\n"
    return TEMPLATE.format(
        compose_dir=dump_yaml({"compose_dir": str(compose_dir)}).rstrip("\n"), stacks=listed
    )


@app.command()
def init(
    config: ConfigOption = None,
    compose_dir: Annotated[
        str, typer.Option("--compose-dir", help="Folder holding one sub-folder per stack.")
    ] = "/opt/compose",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config, listing the stacks found in --compose-dir.

    Folders whose names cannot be stack names (spaces, a leading dot...) are
    left out, and said so.
    """
    from compose_farm.compose import list_stack_dirs
    from compose_farm.names import name_problem

    path, hint = _target_path(config)
    if path.exists() and not force:
        fail(
            f"{path} already exists",
            hint="pass --force to overwrite it, or edit it: cf config edit",
        )
    # The config needs an absolute path; a relative one means "from here". Not
    # resolve(): the path every host shares may be a link on this machine.
    folder = Path(os.path.abspath(Path(compose_dir).expanduser()))  # noqa: PTH100
    found = list_stack_dirs(folder) if folder.is_dir() else []
    skipped = {name: why for name in found if (why := name_problem(name)) is not None}
    stacks = [name for name in found if name not in skipped]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_starter(folder, stacks), encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot write the config: {exc.strerror or exc}", hint=hint)
    typer.echo(f"Wrote {path} ({len(stacks)} stacks found in {folder}).")
    for name, why in skipped.items():
        typer.echo(f"Skipped folder {name!r}: the stack name {why}.", err=True)
    if skipped:
        typer.echo("Rename those folders to add them as stacks.", err=True)
    typer.echo("Next: add your hosts, then run `cf config validate`.")


@app.command()
def path(config: ConfigOption = None) -> None:
    """Print the path of the config file cf would use."""
    from compose_farm.config import find_config

    typer.echo(str(find_config(config, os.environ)))


@app.command()
def show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Print the config file (--json: the normalised config, hosts expanded)."""
    cfg = load(config)
    if as_json:
        print_json(
            {
                "path": str(cfg.path),
                "compose_dir": str(cfg.compose_dir),
                "hosts": {n: h.model_dump(exclude_none=True) for n, h in cfg.hosts.items()},
                "stacks": {n: list(s.hosts) for n, s in cfg.stacks.items()},
                "sync": cfg.sync.model_dump(mode="json"),
                "stack_options": {
                    n: {
                        "sync": s.sync,
                        "data": [str(d) for d in s.data],
                        "hooks": {
                            event: [h.model_dump() for h in hooks]
                            for event, hooks in s.hooks.items()
                        },
                    }
                    for n, s in cfg.stacks.items()
                    if s.sync or s.data or s.hooks
                },
                "traefik_file": str(cfg.traefik_file) if cfg.traefik_file else None,
                "traefik_stack": cfg.traefik_stack,
                "state_file": str(cfg.state_path),
            }
        )
        return
    typer.echo(f"# {cfg.path}")
    typer.echo(cfg.path.read_text(encoding="utf-8"), nl=False)


@app.command()
def validate(config: ConfigOption = None) -> None:
    """Check the config; print every problem with its file and line."""
    cfg = load(config)
    typer.echo(f"{cfg.path}: valid ({len(cfg.hosts)} hosts, {len(cfg.stacks)} stacks)")


@app.command()
def edit(config: ConfigOption = None) -> None:
    """Open the config in $VISUAL / $EDITOR, then validate it."""
    from compose_farm.config import find_config

    target = find_config(config, os.environ)
    variable = next((v for v in ("VISUAL", "EDITOR") if os.environ.get(v)), None)
    name = variable or "EDITOR"
    hint = f"set {name} to an editor command, e.g. {name}=nano"
    if variable is None:
        argv, source = ["vi"], "(the default: neither $VISUAL nor $EDITOR is set)"
    else:
        editor, source = os.environ[variable], f"from ${variable}"
        try:
            argv = shlex.split(editor)
        except ValueError as exc:
            fail(f"${variable} is not a valid command line ({exc}): {editor}", hint=hint)
        if not argv:
            fail(f"${variable} is blank", hint=hint)
    try:
        result = subprocess.run([*argv, str(target)], check=False)
    except FileNotFoundError:
        fail(f"editor {argv[0]!r} {source} not found", hint=hint)
    except OSError as exc:
        fail(
            f"cannot run editor {argv[0]!r} {source}: {exc.strerror or exc}",
            hint=f"make {argv[0]} executable, or {hint}",
        )
    if result.returncode != 0:
        fail(f"the editor exited with status {result.returncode}; the file was not checked")
    validate(str(target))


@app.command()
def symlink(
    target: Annotated[
        Path, typer.Argument(help="The config file to point at.", show_default=False)
    ] = Path("compose-farm.yaml"),
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing link (never a file or folder)."),
    ] = False,
) -> None:
    """Link the default config location to TARGET, so cf finds it from any folder.

    The link is $CF_CONFIG when set, else $XDG_CONFIG_HOME/compose-farm/compose-farm.yaml
    (~/.config by default). --force replaces a link there; a regular file or a folder
    there is never removed, and a link that would point to itself is refused.
    """
    source = target.expanduser().resolve()
    if not source.is_file():
        fail(f"{source}: no such config file", hint="pass the path of your compose-farm.yaml")
    link, hint = _target_path(None)
    if _resolved(link) == source:
        if link.is_symlink():
            typer.echo(f"{link} already points to {source}")
            return
        fail(
            f"{link} is the config file itself (TARGET is {source}): "
            "a link there would point to itself",
            hint="nothing to do: cf already finds this file",
        )
    try:
        if link.is_symlink():
            if not force:
                fail(f"{link} already exists (a link)", hint="pass --force to replace the link")
            link.unlink()
        elif link.exists():
            fail(
                f"{link} already exists and is not a link: cf never removes it",
                hint="move it aside yourself, then run this again",
            )
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source)
    except OSError as exc:
        fail(f"{link}: cannot create the link: {exc.strerror or exc}", hint=hint)
    typer.echo(f"{link} -> {source}")


def _resolved(path: Path) -> Path | None:
    """``path`` with every link followed, or None when that fails (a loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None
