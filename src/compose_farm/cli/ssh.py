"""``cf ssh``: a dedicated key, trusting host keys, installing the key, and a status table."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compose_farm.cli.common import (
    ConfigOption,
    JsonOption,
    check_hosts,
    fail,
    load,
    print_json,
    run_async,
)

if TYPE_CHECKING:
    from compose_farm.config import Config

app = typer.Typer(help="SSH keys and host trust for the farm's hosts.", no_args_is_help=True)

HostsArg = Annotated[list[str] | None, typer.Argument(help="Hosts (default: all).")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Trust without asking.")]


def _identity(cfg: Config | None = None) -> Any:
    from compose_farm.executor.trust import SshIdentity

    extra = None
    if cfg is not None and cfg.ssh.known_hosts:
        extra = Path(cfg.ssh.known_hosts).expanduser()
    return SshIdentity(home=Path.home(), extra_known_hosts=extra)


def _hosts(cfg: Config, names: list[str] | None, *, remote_only: bool = True) -> list[str]:
    from compose_farm.executor.local import is_local_address

    chosen = check_hosts(cfg, names or list(cfg.hosts))
    if remote_only:
        chosen = [
            h
            for h in chosen
            if not (cfg.hosts[h].is_local or is_local_address(cfg.hosts[h].address))
        ]
    return chosen


@app.command()
def keygen(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
) -> None:
    """Create cf's own ed25519 key at ~/.ssh/compose-farm/id_ed25519."""
    from compose_farm.sshtrust import ensure_key

    identity = _identity()
    path, made = ensure_key(identity, force=force)
    if made:
        typer.echo(f"Created {path} (and {path.name}.pub). Next: cf ssh setup")
    else:
        typer.echo(f"{path} already exists; pass --force to replace it")


def _trust(cfg: Config, hosts: list[str], yes: bool, replace: bool) -> bool:
    """Check each host's key, ask, record. True when every host ends up trusted."""
    import asyncio

    from compose_farm.sshtrust import (
        KeyStatus,
        check_host_key,
        forget_in_user_known_hosts,
        record_key,
    )

    identity = _identity(cfg)

    async def main() -> list[Any]:
        return list(
            await asyncio.gather(
                *(check_host_key(identity, cfg.hosts[h], cfg.ssh.connect_timeout) for h in hosts)
            )
        )

    all_ok = True
    for host, check in zip(hosts, run_async(main()), strict=True):
        address = cfg.hosts[host].address
        if check.status is KeyStatus.UNREACHABLE:
            typer.echo(f"{host} ({address}): unreachable: {check.error}", err=True)
            all_ok = False
        elif check.status is KeyStatus.KNOWN:
            typer.echo(f"{host} ({address}): already trusted ({check.fingerprint})")
        elif check.status is KeyStatus.CHANGED and not replace:
            typer.echo(
                f"{host} ({address}): WARNING: the host key has CHANGED ({check.fingerprint}). "
                "This could be an attack, or the host was reinstalled. Not replaced; "
                f"if you know why, run: cf ssh trust {host} --replace",
                err=True,
            )
            all_ok = False
        else:
            kind = check.key.get_algorithm() if check.key is not None else "?"
            question = f"{host} ({address}) presents {kind} key {check.fingerprint}. Trust it?"
            if not yes and not (sys.stdin.isatty() and typer.confirm(question, default=False)):
                typer.echo(f"{host}: not trusted (pass --yes to trust without asking)", err=True)
                all_ok = False
                continue
            assert check.key is not None
            if check.status is KeyStatus.CHANGED:
                forget_in_user_known_hosts(identity, cfg.hosts[host])
            record_key(identity, cfg.hosts[host], check.key)
            typer.echo(f"{host} ({address}): trusted {check.fingerprint}")
    return all_ok


@app.command()
def trust(
    hosts: HostsArg = None,
    yes: YesOption = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a host key that has changed.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Fetch each host's key, show its fingerprint, and record it after you confirm."""
    cfg = load(config)
    if not _trust(cfg, _hosts(cfg, hosts), yes, replace):
        raise SystemExit(1)


def _password(prompt: str) -> str:
    """Ask for a password on the terminal, or read one line from stdin when it is piped."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")


@app.command()
def setup(
    hosts: HostsArg = None,
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Make cf's key if needed, trust the hosts, and install the key in their authorized_keys."""
    import asyncio

    from compose_farm.sshlib import asyncssh
    from compose_farm.sshtrust import ensure_key, install_key, public_key_line

    cfg = load(config)
    identity = _identity(cfg)
    path, made = ensure_key(identity)
    if made:
        typer.echo(f"Created {path}")
    targets = _hosts(cfg, hosts)
    skipped = sorted(set(hosts or cfg.hosts) - set(targets))
    for host in skipped:
        typer.echo(f"{host}: local, nothing to install")
    if not _trust(cfg, targets, yes, replace=False):
        fail("some hosts are not trusted; nothing was installed on them", code=1)
    line = public_key_line(identity)
    failed = False
    for host in targets:  # one at a time: a password prompt needs the terminal
        hcfg = cfg.hosts[host]
        try:
            outcome = asyncio.run(install_key(hcfg, cfg.ssh, identity, line, None))
        except asyncssh.PermissionDenied:
            who = f"{hcfg.user + '@' if hcfg.user else ''}{hcfg.address}"
            try:
                secret = _password(f"{host}: password for {who}: ")
                outcome = asyncio.run(install_key(hcfg, cfg.ssh, identity, line, secret))
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                typer.echo(f"{host}: failed: {exc}", err=True)
                failed = True
                continue
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            typer.echo(f"{host}: failed: {exc or type(exc).__name__}", err=True)
            failed = True
            continue
        typer.echo(f"{host}: key {'installed' if outcome == 'added' else 'already installed'}")
    if failed:
        raise SystemExit(1)


@app.command()
def status(
    hosts: HostsArg = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Check every host at once: host key, login, round-trip time."""
    import asyncio
    import time

    from compose_farm.executor import Command, Executor
    from compose_farm.sshtrust import KeyStatus, check_host_key

    cfg = load(config)
    names = _hosts(cfg, hosts, remote_only=False)
    identity = _identity(cfg)

    async def one(executor: Executor, host: str) -> dict[str, str]:
        row = {"host": host, "address": cfg.hosts[host].address}
        if executor.is_local(host):
            return {**row, "host_key": "local", "login": "local", "rtt_ms": "", "error": ""}
        check = await check_host_key(identity, cfg.hosts[host], cfg.ssh.connect_timeout)
        row["host_key"] = check.status.value
        if check.status is not KeyStatus.KNOWN:
            login = "unreachable" if check.status is KeyStatus.UNREACHABLE else "not tried"
            return {**row, "login": login, "rtt_ms": "", "error": check.error or ""}
        start = time.perf_counter()
        result = await executor.run(host, Command(argv=("true",)))
        elapsed = time.perf_counter() - start
        if result.ok:
            return {**row, "login": "ok", "rtt_ms": f"{elapsed * 1000:.0f}", "error": ""}
        error = result.error or f"exit {result.exit_status}"
        login = "refused" if "authentication refused" in error else "failed"
        return {**row, "login": login, "rtt_ms": "", "error": error}

    async def main() -> list[dict[str, str]]:
        async with Executor(cfg) as executor:
            return list(await asyncio.gather(*(one(executor, h) for h in names)))

    rows = run_async(main())
    key = identity.dedicated_key
    if as_json:
        print_json({"dedicated_key": str(key) if key.is_file() else None, "hosts": rows})
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        colours = {
            "known": "green",
            "ok": "green",
            "local": "dim",
            "unknown": "yellow",
            "changed": "bold red",
            "refused": "red",
            "unreachable": "red",
        }
        console = Console(highlight=False)
        console.print(f"cf key: {key if key.is_file() else 'none (cf ssh keygen)'}")
        table = Table(box=None)
        for column in ("HOST", "ADDRESS", "HOST KEY", "LOGIN", "RTT"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["host"],
                r["address"],
                Text(r["host_key"], style=colours.get(r["host_key"], "")),
                Text(r["login"], style=colours.get(r["login"], "")),
                f"{r['rtt_ms']} ms" if r["rtt_ms"] else "",
            )
        console.print(table)
    if any(r["login"] not in ("ok", "local") for r in rows):
        raise SystemExit(4)
