"""The stack page's Secrets panel: a stack's ``.env.sops`` (``sops.py``), decrypted here.

The panel lists the names with their values hidden; a value reaches the browser
only through an explicit POST (Reveal, with the CSRF token), which is logged with
the names it revealed, never a value. A save sends only the values that changed
(and the names removed): the file is re-encrypted for its own recipients, the old
one kept (encrypted) in the backups so its values stay masked.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from compose_farm.config import Config
from compose_farm.errors import FarmError
from compose_farm.sops import (
    SOPS_FILE,
    SopsValues,
    apply_changes,
    decrypt_text,
    reencrypt,
)
from compose_farm.web import files
from compose_farm.web.deps import CsrfDep, FarmDep, SessionDep, checked_name, render
from compose_farm.web.farm import Farm

router = APIRouter()
log = logging.getLogger("compose_farm.web")
NO_STORE = {"Cache-Control": "no-store"}


class Reveal(BaseModel):
    """Which value to show (``None``: every value of the file)."""

    name: str | None = None


class Changes(BaseModel):
    """New values by name (new names are added) and the names to remove."""

    values: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


def secrets_file(config: Config, stack: str) -> Path:
    """The stack's ``.env.sops``, with the editors' checks of its folder (no symlinks out)."""
    return files.stack_file(config, stack, ".env").with_name(SOPS_FILE)


def _refused(farm: Farm, stack: str, exc: FarmError) -> HTTPException:
    return HTTPException(status_code=400, detail=farm.mask(stack, exc.message))


async def _values(farm: Farm, stack: str) -> tuple[Config, Path, dict[str, str]]:
    config = await farm.read_config()
    try:
        path = secrets_file(config, stack)
        if not path.is_file():
            raise HTTPException(status_code=404, detail=f"{stack} has no {SOPS_FILE}")
        values = await asyncio.to_thread(SopsValues(config, farm.environ).of, stack)
    except FarmError as exc:
        raise _refused(farm, stack, exc) from None
    return config, path, values


@router.get("/stack/{name}/secrets", response_class=HTMLResponse)
async def panel(request: Request, name: str, farm: FarmDep, session: SessionDep) -> Response:
    """The panel (nothing when the stack has no encrypted file): names, values hidden."""
    checked_name(name, "stack")
    config = await farm.read_config()
    try:
        path = secrets_file(config, name)
    except FarmError:
        return HTMLResponse("")
    if not path.is_file():
        return HTMLResponse("")
    error = None
    names: list[str] = []
    try:
        names = list(await asyncio.to_thread(SopsValues(config, farm.environ).of, name))
    except FarmError as exc:
        error = farm.mask(name, exc.message)
    context = {"stack": name, "path": str(path), "names": names, "error": error}
    return render(request, "partials/secrets.html", {**context, "session": session})


@router.post("/api/stack/{name}/secrets/reveal")
async def reveal(name: str, body: Reveal, farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """One value (``name``) or all of them, on purpose; logged with the names only."""
    checked_name(name, "stack")
    _config, _path, values = await _values(farm, name)
    if body.name is not None:
        if body.name not in values:
            raise HTTPException(status_code=404, detail=f"{name} has no secret {body.name!r}")
        values = {body.name: values[body.name]}
    log.info("web: revealed secrets of %s: %s", name, ", ".join(values) or "(none)")
    return JSONResponse({"values": values}, headers=NO_STORE)


@router.post("/api/stack/{name}/secrets/save")
async def save(name: str, body: Changes, farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """Set the changed values, remove names, re-encrypt (the old file kept, encrypted)."""
    checked_name(name, "stack")
    _config, path, values = await _values(farm, name)
    missing = [n for n in body.remove if n not in values]
    if missing:
        raise HTTPException(status_code=400, detail=f"{name} has no secret {missing[0]!r}")

    def write() -> bool:
        text = decrypt_text(path, name, farm.environ)
        new = apply_changes(text, body.values, body.remove)
        farm.backups.keep(name, path)
        return reencrypt(path, new, name, farm.environ)

    try:
        async with farm.saving:
            changed = await asyncio.to_thread(write)
    except FarmError as exc:
        raise _refused(farm, name, exc) from None
    farm.invalidate()
    log.info(
        "web: saved secrets of %s (set: %s; removed: %s)",
        name,
        ", ".join(body.values) or "none",
        ", ".join(body.remove) or "none",
    )
    return JSONResponse({"ok": True, "changed": changed}, headers=NO_STORE)
