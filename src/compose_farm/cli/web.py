"""``cf web``: serve the web UI (127.0.0.1 by default, always behind a login)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compose_farm.cli.common import ConfigOption, fail

if TYPE_CHECKING:
    from compose_farm.web.auth import Auth
    from compose_farm.web.forwardauth import ForwardAuth


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
    without one, with the link printed at start (it works once, for 10 minutes). Behind a
    reverse proxy doing forward auth, as the user it names (web.forward_auth in the config;
    docs/web-proxy.md)."""
    from compose_farm.fsutil import atomic_write
    from compose_farm.web.auth import Auth, hash_password, password_file
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
    from compose_farm.web.forwardauth import ForwardAuth

    options = cfg.web.forward_auth
    forward = ForwardAuth.of(options) if options is not None else None
    # The start-up link only when there is no password (it would land in the service's log)
    # and no proxy logs people in.
    import secrets

    token = secrets.token_urlsafe(24) if password_hash is None and forward is None else None
    auth = Auth(password_hash=password_hash, token=token, secure_cookies=secure_cookies)
    _warn_if_exposed(host, port, extra_hosts)
    typer.echo(f"Compose Farm UI for {cfg.path}")
    _say_how_to_log_in(f"http://{url_host(host)}:{port}", auth, forward)

    import uvicorn

    from compose_farm.web.app import create_app

    allowed = AllowedHosts.for_server(host, port, extra_hosts)
    app = create_app(cfg.path, auth, allowed_hosts=allowed, forward_auth=forward)
    from compose_farm.cli.app import resume_collector

    resume_collector()  # a server runs for days: its garbage must be collected
    _log_to_stderr()
    # The app applies X-Forwarded-For itself, after forward auth has seen the real peer.
    uvicorn.run(
        app, host=host, port=port, log_level="warning", ws="websockets", proxy_headers=False
    )


def _warn_if_exposed(host: str, port: int, extra_hosts: list[str]) -> None:
    from compose_farm.web.hosts import url_host

    if host in ("127.0.0.1", "localhost", "::1"):
        return
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


def _say_how_to_log_in(base: str, auth: Auth, forward: ForwardAuth | None) -> None:
    from compose_farm.web.auth import clock_time

    if forward is not None:
        typer.echo(f"  forward auth: the user named in {forward.describe()}")
    if auth.password_hash is not None:
        typer.echo(f"  open: {base}/login   (log in with the password)")
    elif auth.token is None or auth.token_expires is None:
        typer.echo("  no password set: only users the proxy names get in")
    else:
        until = clock_time(auth.token_expires)
        typer.echo(f"  one-time login link, valid until {until}: {base}/login?token={auth.token}")
        typer.echo(
            "  no password set: once the link is used or expired, restart `cf web` for a new "
            "one, or set a password with `cf web --set-password`"
        )


def _log_to_stderr() -> None:
    """The web app's warnings (refused forward-auth requests) as ``cf web: ...`` lines."""
    import logging

    log = logging.getLogger("compose_farm.web")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("cf web: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)


def _ask(prompt: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


def register(app: typer.Typer) -> None:
    """Add ``cf web``."""
    app.command()(web)
