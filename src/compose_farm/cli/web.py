"""``cf web``: serve the web UI (127.0.0.1 by default, always behind a login)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from compose_farm.cli.common import ConfigOption, fail


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def web(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    set_password: Annotated[
        bool, typer.Option("--set-password", help="Set the UI password (stored hashed), then exit.")
    ] = False,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Always mark the session cookie Secure (https requests get it anyway).",
        ),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help=(
                "Also answer to this Host name (NAME or NAME:PORT), e.g. the name a proxy or "
                "your LAN uses; repeatable. Always allowed: the --host address, localhost, "
                "127.0.0.1 and [::1] on --port. Other names get 400 (against DNS rebinding)."
            ),
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the web UI. Log in with the password (--set-password or $CF_WEB_PASSWORD);
    without one, with the link printed at start (it works once, for 10 minutes)."""
    from compose_farm.fsutil import atomic_write
    from compose_farm.web.auth import Auth, clock_time, hash_password, password_file
    from compose_farm.web.hosts import AllowedHosts, host_problem, url_host

    extra_hosts = allowed_host or []
    for name in extra_hosts:
        if (problem := host_problem(name)) is not None:
            fail(f"--allowed-host {problem}")

    stored = password_file(_config_home())
    if set_password:
        first = _ask("New UI password: ")
        if len(first) < 8:
            fail("use at least 8 characters")
        if sys.stdin.isatty() and _ask("Again: ") != first:
            fail("the two passwords differ; nothing was changed")
        stored.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(stored, hash_password(first) + "\n", default_mode=0o600)
        stored.chmod(0o600)
        typer.echo(f"Password hash stored in {stored}")
        return

    # Taken out of the environment before anything starts: shells and compose runs that
    # the UI starts must not inherit it.
    from_env = os.environ.pop("CF_WEB_PASSWORD", "")

    from compose_farm.cli.common import load

    cfg = load(config)
    password_hash = None
    if from_env:
        password_hash = hash_password(from_env)
    elif stored.is_file():
        password_hash = stored.read_text(encoding="utf-8").strip() or None
    # The start-up link only when there is no password: it would land in the service's log.
    import secrets

    token = secrets.token_urlsafe(24) if password_hash is None else None
    auth = Auth(password_hash=password_hash, token=token, secure_cookies=secure_cookies)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: listening on {host}: anyone who can reach it gets the login page. "
            "Put it behind HTTPS (and use --secure-cookies).",
            err=True,
        )
        if not extra_hosts:
            typer.echo(
                f"  only Host {url_host(host)}:{port} and the loopback names are answered: add "
                "--allowed-host NAME for the name browsers use to reach it.",
                err=True,
            )
    shown = url_host(host)
    typer.echo(f"Compose Farm UI for {cfg.path}")
    if token is None or auth.token_expires is None:
        typer.echo(f"  open: http://{shown}:{port}/login   (log in with the password)")
    else:
        until = clock_time(auth.token_expires)
        typer.echo(
            f"  one-time login link, valid until {until}: http://{shown}:{port}/login?token={token}"
        )
        typer.echo(
            "  no password set: once the link is used or expired, restart `cf web` for a new "
            "one, or set a password with `cf web --set-password`"
        )

    import uvicorn

    from compose_farm.web.app import create_app

    allowed = AllowedHosts.for_server(host, port, extra_hosts)
    app = create_app(cfg.path, auth, allowed_hosts=allowed)
    from compose_farm.cli.app import resume_collector

    resume_collector()  # a server runs for days: its garbage must be collected
    uvicorn.run(app, host=host, port=port, log_level="warning", ws="websockets")


def _ask(prompt: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


def register(app: typer.Typer) -> None:
    """Add ``cf web``."""
    app.command()(web)
