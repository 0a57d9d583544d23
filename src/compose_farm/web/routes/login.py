"""Logging in and out."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from compose_farm.web.auth import SESSION_COOKIE, SESSION_TTL
from compose_farm.web.deps import FarmDep, render

router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _logged_in(request: Request, sid: str) -> Response:
    # Secure when asked to, and always when the page came over https (directly, or from a
    # local reverse proxy whose X-Forwarded-Proto uvicorn trusts).
    secure = request.app.state.farm.auth.secure_cookies or request.url.scheme == "https"
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
    if token is not None:
        if farm.auth.use_token(token):
            farm.auth.close_session(request.cookies.get(SESSION_COOKIE))
            return _logged_in(request, farm.auth.open_session(time.time()))
        farm.auth.failed(time.time(), _client(request))
    context = {
        "error": "That link was already used or is wrong." if token else None,
        "has_password": farm.auth.password_hash is not None,
    }
    return render(request, "login.html", context, status_code=401 if token else 200)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, farm: FarmDep, password: Annotated[str, Form()] = "") -> Response:
    """Check the password and start a session."""
    now = time.time()
    if farm.auth.throttled(now, _client(request)):
        return Response("Too many failed logins; wait a minute.", status_code=429)
    async with farm.auth.hashing:  # argon2 takes ~0.1 s of CPU: off the event loop
        ok = await asyncio.to_thread(farm.auth.check_password, password)
    if ok:
        farm.auth.close_session(request.cookies.get(SESSION_COOKIE))  # the old one, if any
        return _logged_in(request, farm.auth.open_session(now))
    farm.auth.failed(now, _client(request))
    await asyncio.sleep(0.3)  # slow down guessing
    context = {"error": "Wrong password.", "has_password": farm.auth.password_hash is not None}
    return render(request, "login.html", context, status_code=401)


@router.post("/logout")
async def logout(request: Request, farm: FarmDep) -> Response:
    """End the session (no CSRF needed: logging out is harmless)."""
    farm.auth.close_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
