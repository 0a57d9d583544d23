"""The editors: read and save a stack's compose file or ``.env``, and the config.

Saving validates first (the same parsers the CLI uses), keeps a backup of the
previous version in cf's backups folder on this machine, and writes
atomically. Reading, parsing and writing run in a worker thread: a slow file
never holds up other requests. Errors are masked: Compose interpolates ``.env``
values into the text it complains about.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from compose_farm.backups import CONFIG
from compose_farm.config import Config
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


def _saved(path: Path, backup: Path | None) -> JSONResponse:
    return JSONResponse({"ok": True, "path": str(path), "backup": str(backup) if backup else None})


def _read_stack_file(config: Config, stack: str, name: str) -> tuple[Path, str]:
    path = files.stack_file(config, stack, name)
    return path, files.read_text(path)


def _check_stack_file(config: Config, stack: str, name: str, text: str) -> Path:
    path = files.stack_file(config, stack, name)
    files.validate_stack_file(config, stack, name, text)
    return path


@router.get("/stack/{name}/file/{file}")
async def read_stack_file(
    name: str, file: str, farm: FarmDep, _session: SessionDep
) -> JSONResponse:
    """The file's text (empty when it does not exist yet)."""
    checked_name(name, "stack")
    try:
        config = await farm.read_config()
        path, text = await asyncio.to_thread(_read_stack_file, config, name, file)
    except FarmError as exc:
        raise _refused(farm, name, exc) from None
    return JSONResponse({"path": str(path), "text": text})


@router.post("/stack/{name}/file/{file}")
async def save_stack_file(
    name: str, file: str, body: Body, farm: FarmDep, _csrf: CsrfDep
) -> JSONResponse:
    """Validate, back up, save."""
    checked_name(name, "stack")
    config = await farm.read_config()
    try:
        path = await asyncio.to_thread(_check_stack_file, config, name, file, body.text)
        async with farm.saving:
            backup = await asyncio.to_thread(files.save, path, body.text, farm.backups, name)
    except FarmError as exc:
        raise _refused(farm, name, exc) from None
    farm.invalidate()
    return _saved(path, backup)


@router.get("/config")
async def read_config(farm: FarmDep, _session: SessionDep) -> JSONResponse:
    """The config file's text."""
    text = await asyncio.to_thread(files.read_text, farm.config_path)
    return JSONResponse({"path": str(farm.config_path), "text": text})


@router.post("/config")
async def save_config(body: Body, farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """Validate the new config, back up the old one, save."""
    path = farm.config_path.resolve()
    try:
        await asyncio.to_thread(files.validate_config, path, body.text)
        async with farm.saving:
            backup = await asyncio.to_thread(files.save, path, body.text, farm.backups, CONFIG)
    except FarmError as exc:
        raise _refused(farm, None, exc) from None
    farm.invalidate()
    return _saved(path, backup)


def _kept_answer(found: list[files.Kept]) -> JSONResponse:
    return JSONResponse({"backups": [{"id": k.id, "saved": k.saved} for k in found]})


@router.get("/stack/{name}/file/{file}/backups")
async def list_stack_backups(
    name: str, file: str, farm: FarmDep, _session: SessionDep
) -> JSONResponse:
    """The kept previous versions of the file, newest first."""
    checked_name(name, "stack")
    try:
        config = await farm.read_config()
        path = await asyncio.to_thread(files.stack_file, config, name, file)
        found = await asyncio.to_thread(files.kept, farm.backups, name, path)
    except FarmError as exc:
        raise _refused(farm, name, exc) from None
    return _kept_answer(found)


@router.get("/stack/{name}/file/{file}/backups/{kept}")
async def read_stack_backup(
    name: str, file: str, kept: str, farm: FarmDep, _session: SessionDep
) -> JSONResponse:
    """A kept version's text, and the diff from it to the file now."""
    checked_name(name, "stack")
    try:
        config = await farm.read_config()
        path = await asyncio.to_thread(files.stack_file, config, name, file)
        text, diff = await asyncio.to_thread(files.read_kept, farm.backups, name, path, kept)
    except FarmError as exc:
        raise _refused(farm, name, exc) from None
    return JSONResponse({"id": kept, "text": text, "diff": diff})


@router.get("/config/backups")
async def list_config_backups(farm: FarmDep, _session: SessionDep) -> JSONResponse:
    """The config's kept previous versions, newest first."""
    path = farm.config_path.resolve()
    return _kept_answer(await asyncio.to_thread(files.kept, farm.backups, CONFIG, path))


@router.get("/config/backups/{kept}")
async def read_config_backup(kept: str, farm: FarmDep, _session: SessionDep) -> JSONResponse:
    """A kept version of the config, and the diff from it to the config now."""
    path = farm.config_path.resolve()
    try:
        text, diff = await asyncio.to_thread(files.read_kept, farm.backups, CONFIG, path, kept)
    except FarmError as exc:
        raise _refused(farm, None, exc) from None
    return JSONResponse({"id": kept, "text": text, "diff": diff})
