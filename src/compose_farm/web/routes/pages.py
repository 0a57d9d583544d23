"""Pages, the HTMX partials that refresh on ``cf:refresh``, and the palette's containers.

A stack's page reads its compose file: that runs in a worker thread, as the
config's parsing does (``Farm.read_config``), so a slow file holds up only
its own page.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from compose_farm.web import views
from compose_farm.web.containers import farm_containers
from compose_farm.web.deps import FarmDep, SessionDep, checked_id, checked_name, render
from compose_farm.web.farm import Farm

router = APIRouter()


def _render(
    request: Request, template: str, context: dict[str, object], session: object
) -> Response:
    return render(request, template, {**context, "session": session})


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, farm: FarmDep, session: SessionDep) -> Response:
    """Hosts, stacks by host, the pending plan, and the farm-wide actions."""
    return _render(request, "dashboard.html", await _dashboard_context(farm), session)


async def _dashboard_context(farm: Farm) -> dict[str, object]:
    snap = await farm.snapshot()
    return {
        "page": views.dashboard(snap, farm.mask),
        "tasks": farm.tasks.running(),
        "config": snap.config,
    }


@router.get("/partials/{name}", response_class=HTMLResponse)
async def partial(request: Request, name: str, farm: FarmDep, session: SessionDep) -> Response:
    """One dashboard panel (hosts, stacks, plan, tasks), for HTMX refreshes."""
    if name not in {"hosts", "stacks", "plan", "tasks"}:
        raise HTTPException(status_code=404)
    return _render(request, f"partials/{name}.html", await _dashboard_context(farm), session)


@router.get("/stack/{name}", response_class=HTMLResponse)
async def stack(request: Request, name: str, farm: FarmDep, session: SessionDep) -> Response:
    """A stack's status per host and service, its actions, files and links."""
    checked_name(name, "stack")
    snap = await farm.snapshot()
    if name not in snap.config.stacks:
        raise HTTPException(status_code=404, detail=f"no stack {name!r} in the config")
    page = await asyncio.to_thread(views.stack_page, snap, name, farm.mask)
    context = {"page": page, "config": snap.config}
    return _render(request, "stack.html", context, session)


@router.get("/stack/{name}/status", response_class=HTMLResponse)
async def stack_status(request: Request, name: str, farm: FarmDep, session: SessionDep) -> Response:
    """The stack page's container table, for HTMX refreshes."""
    checked_name(name, "stack")
    snap = await farm.snapshot()
    if name not in snap.config.stacks:
        raise HTTPException(status_code=404)
    page = await asyncio.to_thread(views.stack_page, snap, name, farm.mask)
    context = {"page": page, "config": snap.config}
    return _render(request, "partials/containers.html", context, session)


@router.get("/console", response_class=HTMLResponse)
async def console(request: Request, farm: FarmDep, session: SessionDep) -> Response:
    """A shell on any host, and the config editor."""
    config = await farm.read_config()
    return _render(request, "console.html", {"config": config}, session)


@router.get("/containers", response_class=HTMLResponse)
async def containers_page(request: Request, farm: FarmDep, session: SessionDep) -> Response:
    """Every container of the farm's stacks on every host, to filter, sort and act on."""
    return _render(request, "containers.html", await _containers_context(farm), session)


@router.get("/containers/table", response_class=HTMLResponse)
async def containers_table(request: Request, farm: FarmDep, session: SessionDep) -> Response:
    """The containers page's table, for HTMX refreshes."""
    context = await _containers_context(farm)
    return _render(request, "partials/farm_containers.html", context, session)


async def _containers_context(farm: Farm) -> dict[str, object]:
    snap = await farm.snapshot()
    return {"page": farm_containers(snap, farm.mask), "config": snap.config}


@router.get("/api/containers")
async def containers(farm: FarmDep, _session: SessionDep) -> JSONResponse:
    """Every stack's containers for the command palette, fetched when it opens (so ids are
    as fresh as the snapshot, on every page)."""
    snap = await farm.snapshot()
    return JSONResponse([asdict(c) for c in views.palette_containers(snap, farm.mask)])


@router.get("/logs/{name}", response_class=HTMLResponse)
async def logs_page(
    request: Request,
    name: str,
    farm: FarmDep,
    session: SessionDep,
    service: str | None = None,
    host: str | None = None,
    container: str | None = None,
) -> Response:
    """A stack's logs on a page of their own (to bookmark, or keep open beside the UI):
    the same panel as the drawer, filling the page. The names are checked here and again
    by the logs socket the page opens."""
    checked_name(name, "stack")
    for what, value in (("service", service), ("host", host)):
        if value is not None:
            checked_name(value, what)
    if container is not None:
        checked_id(container)
    snap = await farm.snapshot()
    if name not in snap.config.stacks:
        raise HTTPException(status_code=404, detail=f"no stack {name!r} in the config")
    page = await asyncio.to_thread(views.stack_page, snap, name, farm.mask)
    follow = {"stack": name, "service": service, "host": host, "container": container}
    context = {"page": page, "config": snap.config, "follow": follow}
    return _render(request, "logs.html", context, session)
