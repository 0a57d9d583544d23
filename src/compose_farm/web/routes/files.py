"""The editors: read and save a stack's compose file or ``.env``, and the config.

Saving validates first (the same parsers the CLI uses), keeps a backup of the
previous version in ``.cf-backup/``, and writes atomically. Errors are masked:
Compose interpolates ``.env`` values into the text it complains about.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from compose_farm.errors import FarmError
from compose_farm.web import files
from compose_farm.web.deps import CsrfDep, FarmDep, SessionDep, checked_name
from compose_farm.web.farm import Farm

router = APIRouter(prefix="/api")


class Body(BaseModel):
    """A file's new text."""

    text: str


def _refused(farm: Farm, stack: str | None, exc: FarmError) -> HTTPException:
    return HTTPException(status_code=400, detail=farm.mask(stack, exc.message))


@router.get("/stack/{name}/file/{file}")
async def read_stack_file(
    name: str, file: str, farm: FarmDep, _session: SessionDep
) -> JSONResponse:
    """The file's text (empty when it does not exist yet)."""
    checked_name(name, "stack")
    try:
        path = files.stack_file(farm.config(), name, file)
        return JSONResponse({"path": str(path), "text": files.read_text(path)})
    except FarmError as exc:
        raise _refused(farm, name, exc) from None


@router.post("/stack/{name}/file/{file}")
async def save_stack_file(
    name: str, file: str, body: Body, farm: FarmDep, _csrf: CsrfDep
) -> JSONResponse:
    """Validate, back up, save."""
    checked_name(name, "stack")
    config = farm.config()
    try:
        path = files.stack_file(config, name, file)
        files.validate_stack_file(config, name, file, body.text)
        backup = files.save(path, body.text)
    except FarmError as exc:
        raise _refused(farm, name, exc) from None
    farm.invalidate()
    return JSONResponse({"ok": True, "path": str(path), "backup": str(backup) if backup else None})


@router.get("/config")
async def read_config(farm: FarmDep, _session: SessionDep) -> JSONResponse:
    """The config file's text."""
    return JSONResponse({"path": str(farm.config_path), "text": files.read_text(farm.config_path)})


@router.post("/config")
async def save_config(body: Body, farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """Validate the new config, back up the old one, save."""
    path = farm.config_path.resolve()
    try:
        files.validate_config(path, body.text)
        backup = files.save(path, body.text)
    except FarmError as exc:
        raise _refused(farm, None, exc) from None
    farm.invalidate()
    return JSONResponse({"ok": True, "path": str(path), "backup": str(backup) if backup else None})
