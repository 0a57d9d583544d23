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
compose_dir: {compose_dir}

# Host name -> address, or a mapping with address / user / port / identity_file.
# user and port default to ~/.ssh/config, then to your user name and 22.
hosts:
  local: localhost
  # nuc: 192.168.1.10
  # hp: {{address: 192.168.1.11, user: admin, port: 2222}}

# Stack (a folder in compose_dir) -> a host, a list of hosts, or "all".
stacks:
{stacks}
# traefik_file: /opt/traefik/dynamic.d/compose-farm.yml
# traefik_stack: traefik
"""


def _target_path(config: str | None) -> Path:
    """Where ``init``/``symlink`` act: ``-c``, ``$CF_CONFIG``, else the XDG location."""
    from compose_farm.config import CONFIG_FILENAME

    if config:
        return Path(config).expanduser()
    if os.environ.get("CF_CONFIG"):
        return Path(os.environ["CF_CONFIG"]).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg).expanduser() / "compose-farm" / CONFIG_FILENAME


@app.command()
def init(
    config: ConfigOption = None,
    compose_dir: Annotated[
        str, typer.Option("--compose-dir", help="Folder holding one sub-folder per stack.")
    ] = "/opt/compose",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config, listing the stacks found in --compose-dir."""
    from compose_farm.compose import list_stack_dirs

    path = _target_path(config)
    if path.exists() and not force:
        fail(
            f"{path} already exists",
            hint="pass --force to overwrite it, or edit it: cf config edit",
        )
    found = list_stack_dirs(Path(compose_dir)) if Path(compose_dir).is_dir() else []
    stacks = "".join(f"  {name}: local\n" for name in found) or "  # plex: nuc\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TEMPLATE.format(compose_dir=compose_dir, stacks=stacks), encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot write the config: {exc.strerror}")
    typer.echo(f"Wrote {path} ({len(found)} stacks found in {compose_dir}).")
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
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        result = subprocess.run([*shlex.split(editor), str(target)], check=False)
    except FileNotFoundError:
        fail(f"editor {editor!r} not found", hint="set $EDITOR, e.g. EDITOR=nano")
    if result.returncode != 0:
        fail(f"the editor exited with status {result.returncode}; the file was not checked")
    validate(str(target))


@app.command()
def symlink(
    target: Annotated[
        Path, typer.Argument(help="The config file to point at.", show_default=False)
    ] = Path("compose-farm.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing link.")] = False,
) -> None:
    """Link the default config location to TARGET, so cf finds it from any folder."""
    source = target.expanduser().resolve()
    if not source.is_file():
        fail(f"{source}: no such config file", hint="pass the path of your compose-farm.yaml")
    link = _target_path(None)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and link.resolve() == source:
            typer.echo(f"{link} already points to {source}")
            return
        if not force:
            fail(f"{link} already exists", hint="pass --force to replace it")
        if link.is_dir() and not link.is_symlink():
            fail(f"{link} is a directory; move it aside first")
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source)
    typer.echo(f"{link} -> {source}")
