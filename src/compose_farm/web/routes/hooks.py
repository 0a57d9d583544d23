"""The git webhook and the dashboard's commit panel (docs/git.md).

``POST /hooks/git`` needs no login: the repository's server proves itself with the
webhook secret (``web/hooksig.py``). It is rate limited per address before the
signature is checked, bounded in size like every body (``guard.Guard``), and a
refusal is logged with the address and the reason, never the secret or the body.
A valid hook only starts a check (``gitwatch.GitWatch``); it answers 202 at once.
The panel and its buttons are the logged-in UI's, with CSRF like every action.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from compose_farm.web.deps import CsrfDep, SessionDep, render
from compose_farm.web.gitwatch import GitWatch, log
from compose_farm.web.hooksig import signature_problem

router = APIRouter()
COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def get_watch(request: Request) -> GitWatch:
    watch: GitWatch = request.app.state.gitwatch
    return watch


WatchDep = Annotated[GitWatch, Depends(get_watch)]


@router.post("/hooks/git")
async def git_hook(request: Request, watch: WatchDep) -> JSONResponse:
    """A push happened (says a signed request): fetch and plan, in the background."""
    client = request.client.host if request.client else "unknown"
    wait = watch.limit.admit(client)
    if wait is not None:
        log.warning("git hook from %s refused: more than the rate limit allows", client)
        return JSONResponse(
            {"detail": "too many hooks; try later"},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    config = await watch.config()
    if config is None or config.git is None or config.git.webhook is None:
        return JSONResponse({"detail": "no git webhook is configured"}, status_code=404)
    secret = watch.secret(config)
    if secret is None:
        return JSONResponse({"detail": "the webhook secret cannot be read"}, status_code=503)
    body = await request.body()
    problem = signature_problem(request.headers, body, secret)
    if problem is not None:
        log.warning("git hook from %s refused: %s", client, problem)
        missing = problem.startswith("no signature")
        return JSONResponse({"detail": "invalid signature"}, status_code=401 if missing else 403)
    ref = _pushed_ref(body)
    want = f"refs/heads/{config.git.branch}"
    if ref is not None and ref != want:
        return JSONResponse({"detail": f"ignored: a push to {ref}, not {want}"}, status_code=202)
    log.info("git hook from %s: checking %s", client, config.git.branch)
    watch.ring()
    return JSONResponse({"detail": "checking the branch"}, status_code=202)


def _pushed_ref(body: bytes) -> str | None:
    """The ``ref`` of a push event's JSON (GitHub, Gitea and GitLab all send one)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    ref = payload.get("ref") if isinstance(payload, dict) else None
    return ref if isinstance(ref, str) else None


@router.get("/git/panel", response_class=HTMLResponse)
async def panel(request: Request, watch: WatchDep, session: SessionDep) -> Response:
    """The dashboard's commit panel (empty when the config names no git branch)."""
    config = await watch.config()
    context = {
        "commit_panel": True,
        "git": config.git if config else None,
        "view": watch.view,
        "applying": watch.applying is not None and not watch.applying.done,
        "session": session,
    }
    return render(request, "partials/commit.html", context)


@router.post("/api/git/check")
async def check(watch: WatchDep, _csrf: CsrfDep) -> JSONResponse:
    """Fetch the branch now (the panel's Check button)."""
    if await watch.config() is None:
        raise HTTPException(status_code=404, detail="the config names no git branch")
    watch.ring()
    return JSONResponse({"detail": "checking the branch"}, status_code=202)


@router.post("/api/git/apply/{sha}")
async def apply_commit(sha: str, watch: WatchDep, _csrf: CsrfDep) -> JSONResponse:
    """Apply the commit the panel shows (only that one)."""
    if not COMMIT_ID.fullmatch(sha):
        raise HTTPException(status_code=400, detail="not a commit id")
    view = watch.view
    if view is None or view.incoming is None or view.incoming.commit.sha != sha:
        raise HTTPException(
            status_code=409, detail="that commit is no longer the branch's tip: reload the page"
        )
    if watch.applying is not None and not watch.applying.done:
        raise HTTPException(status_code=409, detail="a commit is being applied already")
    task = watch.apply(sha)
    trigger = {"cf:task": {"id": task.id, "title": task.title}}
    return JSONResponse({"task": task.id}, headers={"HX-Trigger": json.dumps(trigger)})
