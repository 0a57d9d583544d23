"""``create_app``: the web UI assembled from its parts, with no module-level state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from compose_farm import __version__
from compose_farm.errors import FarmError
from compose_farm.executor import Executor
from compose_farm.web.auth import CSRF_FIELD, CSRF_HEADER, Auth
from compose_farm.web.deps import LoginRequired
from compose_farm.web.farm import ExecutorFactory, Farm
from compose_farm.web.routes import actions, files, login, pages, sockets

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
) -> FastAPI:
    """The web app for the farm described by ``config_path``."""
    app = FastAPI(
        title="Compose Farm", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    farm = Farm(config_path=config_path, auth=auth, executor_factory=executor_factory)
    if environ is not None:
        farm.environ = dict(environ)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(
        version=__version__, csrf_header=CSRF_HEADER, csrf_field=CSRF_FIELD
    )
    app.state.farm = farm
    app.state.templates = templates

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (login, pages, actions, files, sockets):
        app.include_router(module.router)

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
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(
                request, "error.html", {"message": exc.message, "hint": exc.hint}, status_code=500
            )
        return JSONResponse({"detail": exc.message, "hint": exc.hint}, status_code=500)

    @app.get("/healthz", response_class=HTMLResponse, include_in_schema=False)
    async def healthz() -> str:
        return "ok"

    return app
