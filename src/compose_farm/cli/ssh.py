"""``cf ssh``: a dedicated key, trusting host keys, installing the key, and a status table."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compose_farm.cli import completion
from compose_farm.cli.common import (
    ConfigOption,
    JsonOption,
    check_hosts,
    fail,
    load,
    print_json,
    run_async,
)
from compose_farm.status import ExitStatus

if TYPE_CHECKING:
    from compose_farm.config import Config

app = typer.Typer(help="SSH keys and host trust for the farm's hosts.", no_args_is_help=True)

HostsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Hosts (default: all).", autocompletion=completion.hosts),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Trust without asking.")]


def _identity(cfg: Config | None = None) -> Any:
    from compose_farm.ssh.identity import SshIdentity

    return SshIdentity.of(cfg) if cfg is not None else SshIdentity(home=Path.home())


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
    from compose_farm.ssh.trust import ensure_key

    identity = _identity()
    path, made = ensure_key(identity, force=force)
    if made:
        typer.echo(f"Created {path} (and {path.name}.pub). Next: cf ssh setup")
    else:
        typer.echo(f"{path} already exists; pass --force to replace it")


def _trust(cfg: Config, hosts: list[str], yes: bool, replace: bool) -> list[str]:
    """Check each host's key, ask, record. Returns the hosts that end up trusted."""
    import asyncio

    from compose_farm.ssh.trust import (
        KeyStatus,
        check_host_key,
        forget_in_user_known_hosts,
        record_key,
        still_recording_others,
    )

    identity = _identity(cfg)

    async def main() -> list[Any]:
        return list(
            await asyncio.gather(
                *(check_host_key(identity, cfg.hosts[h], cfg.ssh.connect_timeout) for h in hosts)
            )
        )

    trusted: list[str] = []
    for host, check in zip(hosts, run_async(main()), strict=True):
        where = (
            f"{host} ({check.target.known_hosts_name if check.target else cfg.hosts[host].address})"
        )
        if check.status is KeyStatus.UNREACHABLE:
            typer.echo(f"{where}: unreachable: {check.error}", err=True)
            continue
        if check.status is KeyStatus.KNOWN:
            typer.echo(f"{where}: already trusted ({check.fingerprint})")
            trusted.append(host)
            continue
        assert check.key is not None and check.target is not None
        kind = check.key.get_algorithm()
        if check.status is KeyStatus.CHANGED:
            typer.echo(
                f"{where}: WARNING: the host key has CHANGED: it now presents {kind} key "
                f"{check.fingerprint}; on record: {', '.join(check.recorded)}. "
                "This could be an attack, or the host was reinstalled.",
                err=True,
            )
            if not replace:
                typer.echo(
                    f"{host}: not replaced; if you know why it changed, run: "
                    f"cf ssh trust {host} --replace",
                    err=True,
                )
                continue
            question = f"Replace the recorded key of {host} with {check.fingerprint}?"
        else:
            question = f"{where} presents {kind} key {check.fingerprint}. Trust it?"
        if not yes and not (sys.stdin.isatty() and typer.confirm(question, default=False)):
            typer.echo(f"{host}: not trusted (pass --yes to trust without asking)", err=True)
            continue
        name = check.target.known_hosts_name
        if check.status is KeyStatus.CHANGED:
            forget_in_user_known_hosts(identity, name)
        record_key(identity, name, check.key)
        typer.echo(f"{where}: trusted {check.fingerprint}")
        for path in still_recording_others(identity, check.target, check.key):
            typer.echo(
                f"{host}: warning: {path} still records another key for {name}, which cf "
                "would accept too: remove that line there",
                err=True,
            )
        trusted.append(host)
    return trusted


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
    chosen = _hosts(cfg, hosts)
    if not chosen:
        typer.echo("No remote hosts to trust: local hosts need no host key.")
    if len(_trust(cfg, chosen, yes, replace)) < len(chosen):
        raise SystemExit(ExitStatus.FAILED)


def _password(prompt: str) -> str | None:
    """Ask for a password on the terminal, or read one line from piped stdin (None at EOF)."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    line = sys.stdin.readline()
    sys.stderr.write("\n")
    sys.stderr.flush()
    return line.rstrip("\n") if line else None


@app.command()
def setup(
    hosts: HostsArg = None,
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Make cf's key if needed, trust the hosts, and install the key in their authorized_keys."""
    import asyncio

    from compose_farm.ssh.lib import asyncssh
    from compose_farm.ssh.trust import ensure_key, install_key, public_key_line

    cfg = load(config)
    targets = _hosts(cfg, hosts)
    identity = _identity(cfg)
    path, made = ensure_key(identity)
    if made:
        typer.echo(f"Created {path}")
    for host in sorted(set(hosts or cfg.hosts) - set(targets)):
        typer.echo(f"{host}: local, nothing to install")
    line = public_key_line(identity)
    trusted = _trust(cfg, targets, yes, replace=False)
    failed = len(trusted) < len(targets)
    for host in trusted:  # one at a time: a password prompt needs the terminal
        hcfg = cfg.hosts[host]
        try:
            try:
                outcome = asyncio.run(install_key(host, hcfg, cfg.ssh, identity, line, None))
            except asyncssh.PermissionDenied:
                who = f"{hcfg.user + '@' if hcfg.user else ''}{hcfg.address}"
                secret = _password(f"{host}: password for {who}: ")
                if secret is None:
                    typer.echo(f"{host}: no password given (stdin is closed); skipped", err=True)
                    failed = True
                    continue
                outcome = asyncio.run(install_key(host, hcfg, cfg.ssh, identity, line, secret))
        except asyncssh.ProcessError as exc:  # the authorized_keys program failed: say why
            why = str(exc.stderr or "").strip() or f"exit status {exc.exit_status}"
            typer.echo(f"{host}: failed to update authorized_keys: {why}", err=True)
            failed = True
            continue
        except (OSError, ValueError, asyncssh.Error, TimeoutError) as exc:
            typer.echo(f"{host}: failed: {exc or type(exc).__name__}", err=True)
            failed = True
            continue
        typer.echo(f"{host}: key {'installed' if outcome == 'added' else 'already installed'}")
    if failed:
        fail("not every host is set up; see the messages above", code=ExitStatus.FAILED)


@app.command()
def status(
    hosts: HostsArg = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Check every host at once: host key, login, round-trip time."""
    import asyncio
    import time

    from compose_farm.executor import Command, Executor
    from compose_farm.ssh.identity import describe_target
    from compose_farm.ssh.trust import KeyStatus, check_host_key

    cfg = load(config)
    names = _hosts(cfg, hosts, remote_only=False)
    identity = _identity(cfg)

    async def one(executor: Executor, host: str) -> dict[str, str]:
        row = {"host": host, "address": describe_target(cfg.hosts[host])}
        if executor.is_local(host):
            return {**row, "host_key": "local", "login": "local", "rtt_ms": "", "error": ""}
        check = await check_host_key(identity, cfg.hosts[host], cfg.ssh.connect_timeout)
        row["host_key"] = check.status.value
        if check.target is not None and check.target.hostname != cfg.hosts[host].address:
            row["address"] += f" ({check.target.known_hosts_name})"  # ~/.ssh/config's HostName
        if check.status is KeyStatus.UNREACHABLE:
            return {**row, "login": "unreachable", "rtt_ms": "", "error": check.error or ""}
        if check.status is not KeyStatus.KNOWN:
            why = (
                f"host key not recorded: cf ssh trust {host}"
                if check.status is KeyStatus.UNKNOWN
                else f"host key CHANGED (if you know why: cf ssh trust {host} --replace)"
            )
            return {**row, "login": "not tried", "rtt_ms": "", "error": why}
        result = await executor.run(host, Command(argv=("true",)))  # logs in
        start = time.perf_counter()
        if result.ok:  # the round trip of a command on the open connection
            result = await executor.run(host, Command(argv=("true",)))
        elapsed = time.perf_counter() - start
        if result.ok:
            return {**row, "login": "ok", "rtt_ms": f"{elapsed * 1000:.0f}", "error": ""}
        error = result.error or f"exit {result.exit_status}"
        login = "refused" if "authentication refused" in error else "failed"
        if login == "refused":
            error = f"key not accepted: cf ssh setup {host}"
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
        for column in ("HOST", "ADDRESS", "HOST KEY", "LOGIN", "RTT", "DETAIL"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["host"],
                r["address"],
                Text(r["host_key"], style=colours.get(r["host_key"], "")),
                Text(r["login"], style=colours.get(r["login"], "")),
                f"{r['rtt_ms']} ms" if r["rtt_ms"] else "",
                r["error"],
            )
        console.print(table)
    if any(r["login"] not in ("ok", "local") for r in rows):
        raise SystemExit(ExitStatus.UNREACHABLE)


@app.command()
def revoke(
    hosts: HostsArg = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Remove data-move keys (cf-move-*) left in the hosts' authorized_keys.

    A data move removes its one-copy key itself; one is left only when that
    failed (the host went away at that moment, cf was killed). Only those
    lines, and cf's folder of each, are removed; the rest of the file keeps
    every byte. The key of a move running now from this machine is kept.
    """
    from compose_farm.executor import Executor
    from compose_farm.operations.movekeys import revoke_left

    cfg = load(config)
    names = _hosts(cfg, hosts)

    async def main() -> list[Any]:
        async with Executor(cfg) as executor:
            return await revoke_left(executor, names)

    reports = run_async(main())
    if as_json:
        print_json(
            {
                r.host: {"removed": list(r.removed), "in_use": list(r.in_use), "error": r.error}
                for r in reports
            }
        )
    else:
        for r in reports:
            for marker in r.removed:
                typer.echo(f"{r.host}: removed {marker}")
            for marker in r.in_use:
                typer.echo(f"{r.host}: kept {marker}: a data move running now uses it")
            if r.error is not None:
                typer.echo(f"{r.host}: {r.error}", err=True)
            elif not r.removed and not r.in_use:
                typer.echo(f"{r.host}: no data-move keys")
    if any(r.error is not None for r in reports):
        raise SystemExit(
            ExitStatus.UNREACHABLE
            if all(r.error is not None for r in reports)
            else ExitStatus.FAILED
        )
