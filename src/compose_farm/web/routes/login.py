"""Logging in and out; every attempt is counted before it is checked (see ``web.auth``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from compose_farm.web.auth import SESSION_COOKIE, SESSION_TTL, Auth, client_key, clock_time
from compose_farm.web.deps import FarmDep, SessionDep, render

router = APIRouter()


def _client(request: Request) -> str:
    """The throttle's key: the peer address uvicorn gives (see ``web.auth``)."""
    return client_key(request.client.host if request.client else "")


def _page(request: Request, auth: Auth, error: str | None = None, status: int = 200) -> Response:
    live = auth.token_live()
    context = {
        "error": error,
        "has_password": auth.password_hash is not None,
        "link_until": clock_time(auth.token_expires) if live and auth.token_expires else None,
    }
    return render(request, "login.html", context, status_code=status)


def _refused(request: Request, auth: Auth, wait: int) -> Response:
    error = f"Too many failed logins from your address; try again in {wait} s."
    response = _page(request, auth, error, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


def _logged_in(request: Request, auth: Auth, client: str) -> Response:
    sid = auth.logged_in(client, request.cookies.get(SESSION_COOKIE))
    # Secure when asked to, and always when the page came over https (directly, or from a
    # local reverse proxy whose X-Forwarded-Proto uvicorn trusts).
    secure = auth.secure_cookies or request.url.scheme == "https"
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(SESSION_TTL),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, farm: FarmDep, token: str | None = None) -> Response:
    """The login form; ``?token=`` logs in once with the start-up token."""
    auth = farm.auth
    if token is None:
        return _page(request, auth)
    client = _client(request)
    if (wait := auth.admit(client)) is not None:
        return _refused(request, auth, wait)
    if auth.use_token(token):
        return _logged_in(request, auth, client)
    return _page(request, auth, "That link was already used, has expired, or is wrong.", 401)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, farm: FarmDep, password: Annotated[str, Form()] = "") -> Response:
    """Check the password and start a session."""
    auth = farm.auth
    client = _client(request)
    if (wait := auth.admit(client)) is not None:  # counted before the first await
        return _refused(request, auth, wait)
    async with auth.hashing:  # argon2 takes ~0.1 s of CPU: off the event loop
        ok = await asyncio.to_thread(auth.check_password, password)
    if ok:
        return _logged_in(request, auth, client)
    return _page(request, auth, "Wrong password.", 401)


@router.post("/logout")
async def logout(request: Request, farm: FarmDep) -> Response:
    """End the session (no CSRF needed: logging out is harmless)."""
    farm.auth.close_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/whoami")
async def whoami(session: SessionDep) -> JSONResponse:
    """Who this request is logged in as: the user a trusted proxy named, or a password session
    (which has no user name)."""
    return JSONResponse({"user": session.user, "login": "proxy" if session.user else "session"})
