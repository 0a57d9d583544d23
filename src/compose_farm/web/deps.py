"""FastAPI dependencies: the farm, the logged-in session, CSRF, validated names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from compose_farm.names import name_problem
from compose_farm.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, same_origin
from compose_farm.web.farm import Farm


class LoginRequired(Exception):
    """Raised for a page request without a session; answered with a redirect."""


def get_farm(request: Request) -> Farm:
    """The app's parts."""
    farm: Farm = request.app.state.farm
    return farm


def get_session(request: Request, farm: Annotated[Farm, Depends(get_farm)]) -> Session:
    """The browser's session; pages redirect to /login, APIs answer 401."""
    session = farm.auth.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            raise LoginRequired
        raise HTTPException(status_code=401, detail="log in first")
    return session


async def require_csrf(
    request: Request, session: Annotated[Session, Depends(get_session)]
) -> Session:
    """State-changing requests must carry the session's CSRF token and come from this origin."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not session.csrf_ok(sent):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host")):
        raise HTTPException(status_code=403, detail="cross-origin request refused")
    return session


def checked_name(value: str, what: str = "name") -> str:
    """A stack, host or service name from a URL, refused unless safe."""
    why = name_problem(value)
    if why is not None:
        raise HTTPException(status_code=400, detail=f"{what} {value!r} {why}")
    return value


FarmDep = Annotated[Farm, Depends(get_farm)]
SessionDep = Annotated[Session, Depends(get_session)]
CsrfDep = Annotated[Session, Depends(require_csrf)]


def render(
    request: Request, name: str, context: Mapping[str, object], status_code: int = 200
) -> Response:
    """A template response (its name and context stay visible to tests)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, dict(context), status_code=status_code)
