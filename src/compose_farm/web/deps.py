"""FastAPI dependencies: the farm, the logged-in session, CSRF, validated names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from compose_farm.names import name_problem
from compose_farm.web.auth import CSRF_FIELD, CSRF_HEADER, Session
from compose_farm.web.farm import Farm
from compose_farm.web.guard import session_of, wants_login_page

CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")


class LoginRequired(Exception):
    """Raised for a page request without a session; answered with a redirect."""


def get_farm(request: Request) -> Farm:
    """The app's parts."""
    farm: Farm = request.app.state.farm
    return farm


def get_session(request: Request, farm: Annotated[Farm, Depends(get_farm)]) -> Session:
    """The browser's session; pages redirect to /login, APIs answer 401.

    ``guard.Guard`` refused a request without one already; this is the second check.
    """
    session = session_of(farm.auth, request)
    if session is None:
        if wants_login_page(request.method, request.headers.get("accept", "")):
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
    farm: Farm = request.app.state.farm
    if origin is not None and not farm.allowed_hosts.origin_ok(origin, request.headers.get("host")):
        raise HTTPException(status_code=403, detail="cross-origin request refused")
    return session


def name_refusal(value: str, what: str = "name") -> str | None:
    """Why a stack, host or service name from a URL is refused, or ``None`` when it is safe."""
    why = name_problem(value)
    return None if why is None else f"{what} {value!r} {why}"


def id_refusal(value: str) -> str | None:
    """Why a container id from a URL is refused, or ``None`` when it is one.

    Pages name containers by id, never by name: a name may carry a ``.env``
    value (``container_name: app-${SECRET}``) and the page must not.
    """
    if CONTAINER_ID.fullmatch(value):
        return None
    return f"container id {value!r} is not a container id: use its 12 to 64 lowercase hex digits"


def checked_name(value: str, what: str = "name") -> str:
    """A stack, host or service name from a URL, refused (400) unless safe."""
    refusal = name_refusal(value, what)
    if refusal is not None:
        raise HTTPException(status_code=400, detail=refusal)
    return value


def checked_id(value: str) -> str:
    """A container id from a URL, refused (400) unless it is 12 to 64 hex digits."""
    refusal = id_refusal(value)
    if refusal is not None:
        raise HTTPException(status_code=400, detail=refusal)
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
