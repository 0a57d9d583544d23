"""``create_app``: the web UI assembled from its parts, with no module-level state."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from compose_farm import __version__
from compose_farm.backups import Backups
from compose_farm.errors import FarmError
from compose_farm.executor import Executor
from compose_farm.web.auth import CSRF_FIELD, CSRF_HEADER, Auth
from compose_farm.web.deps import LoginRequired
from compose_farm.web.farm import ExecutorFactory, Farm
from compose_farm.web.forwardauth import DEFAULT_FORWARDED_ALLOW_IPS, ForwardAuth, ProxyGate
from compose_farm.web.gitwatch import GitWatch
from compose_farm.web.guard import Guard
from compose_farm.web.hosts import AllowedHosts, HostCheck
from compose_farm.web.routes import actions, files, hooks, login, pages, secrets, sockets, terminal
from compose_farm.web.staticfiles import PackagedStatic

HERE = Path(__file__).parent

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(
    config_path: Path,
    auth: Auth,
    *,
    executor_factory: ExecutorFactory = Executor,
    environ: Mapping[str, str] | None = None,
    allowed_hosts: AllowedHosts | None = None,
    backups: Path | None = None,
    forward_auth: ForwardAuth | None = None,
) -> FastAPI:
    """The web app for the farm described by ``config_path``.

    ``allowed_hosts``: the ``Host`` names it answers to (default: loopback names only).
    ``backups``: where the editors keep old versions of the files they save (default:
    ``$XDG_STATE_HOME/compose-farm/backups``, by ``environ``, else the process's).
    ``forward_auth``: whose user header to believe (default: nobody's; ``web.forwardauth``).

    The app applies ``X-Forwarded-For`` itself (``FORWARDED_ALLOW_IPS`` in ``environ``,
    as uvicorn would): run it with uvicorn's ``proxy_headers=False``, or forward auth
    would judge the client's claimed address instead of the proxy's.
    """
    environ = dict(os.environ if environ is None else environ)
    farm = Farm(
        config_path=config_path,
        auth=auth,
        executor_factory=executor_factory,
        environ=environ,
        allowed_hosts=AllowedHosts.loopback() if allowed_hosts is None else allowed_hosts,
        backups=Backups.default(environ) if backups is None else Backups(backups),
    )
    gitwatch = GitWatch(farm)  # git checks and polling (docs/git.md)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The masker knows the stacks from the start (it never parses the config itself).
        with contextlib.suppress(FarmError):  # a broken config: each page says why
            await farm.read_config()
        async with gitwatch.running():
            yield

    app = FastAPI(
        title="Compose Farm",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(
        version=__version__, csrf_header=CSRF_HEADER, csrf_field=CSRF_FIELD
    )
    app.state.farm = farm
    app.state.gitwatch = gitwatch
    app.state.templates = templates

    # Static files only are compressed: a page holds the session's CSRF token, and a
    # compressed response that also reflects input would leak it byte by byte (BREACH).
    # (each compressed once, kept in memory: web/staticfiles.py)
    app.mount("/static", PackagedStatic(HERE / "static"), name="static")
    for module in (login, pages, actions, files, secrets, sockets, terminal, hooks):
        app.include_router(module.router)

    # Inside the headers middleware (refusals carry the security headers too).
    app.add_middleware(Guard, auth=farm.auth)

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(FarmError)
    async def farm_error(request: Request, exc: FarmError) -> Response:
        message = farm.mask(None, exc.message)
        hint = farm.mask(None, exc.hint) if exc.hint else exc.hint
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(
                request, "error.html", {"message": message, "hint": hint}, status_code=500
            )
        return JSONResponse({"detail": message, "hint": hint}, status_code=500)

    @app.get("/healthz", response_class=HTMLResponse, include_in_schema=False)
    async def healthz() -> str:
        return "ok"

    app.add_middleware(HostCheck, allowed=farm.allowed_hosts)  # before any route
    forwarded = environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS)
    # Outermost: the only place that sees the TCP peer (before X-Forwarded-For is applied).
    app.add_middleware(ProxyGate, forward=forward_auth, forwarded_allow_ips=forwarded)
    return app
