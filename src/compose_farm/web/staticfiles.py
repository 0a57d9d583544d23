"""The UI's static files, each compressible one gzip-compressed once and kept in memory.

Compressing on every request (Starlette's ``GZipMiddleware``) cost the stack page
about 40 ms of the server's event loop on each first visit: CodeMirror and xterm
are 700 kB of JavaScript. The files ship in the package and do not change while
``cf web`` runs, so each is compressed once, at the highest level, the first time a
browser that accepts gzip asks for it (in a worker thread), and served from memory
after that. A file that changed on disk (same path, new size or time) is
compressed again.

Only static files are compressed: a page holds the session's CSRF token, and a
compressed response that also reflects input would leak it (BREACH). Paths are
resolved by Starlette's ``StaticFiles`` (``lookup_path``: no ``..``, no way out
of the folder); anything it would not serve, and every request that does not
accept gzip, goes to it unchanged.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import os
from email.utils import formatdate
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

COMPRESSIBLE = frozenset({".js", ".css", ".svg", ".html", ".json", ".txt", ".map"})
MIN_SIZE = 512  # smaller files gain nothing


class PackagedStatic:
    """An ASGI app serving ``directory``: compressed from memory where it helps."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=str(directory))
        # path -> ((size, mtime), gzip bytes, etag)
        self._kept: dict[str, tuple[tuple[int, int], bytes, str]] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        wanted = scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
        if not wanted or "gzip" not in headers.get("accept-encoding", ""):
            await self.files(scope, receive, send)
            return
        found = await self._compressed(self.files.get_path(scope))
        if found is None:
            await self.files(scope, receive, send)
            return
        path, body, etag, mtime = found
        common = {
            "etag": etag,
            "last-modified": formatdate(mtime, usegmt=True),
            "vary": "Accept-Encoding",
        }
        if etag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            await Response(status_code=304, headers=common)(scope, receive, send)
            return
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        response = Response(
            body if scope["method"] == "GET" else b"",
            media_type=media_type,
            headers={**common, "content-encoding": "gzip"},
        )
        if scope["method"] == "HEAD":
            response.headers["content-length"] = str(len(body))
        await response(scope, receive, send)

    async def _compressed(self, path: str) -> tuple[str, bytes, str, float] | None:
        """(the file's path, its gzip bytes, their etag, its mtime) when it is a file
        worth compressing, else ``None``."""
        full, info = await asyncio.to_thread(self.files.lookup_path, path)
        if info is None or not full or Path(full).suffix not in COMPRESSIBLE:
            return None
        if not os.path.isfile(full) or info.st_size < MIN_SIZE:  # noqa: PTH113 (a str path)
            return None
        stamp = (info.st_size, info.st_mtime_ns)
        kept = self._kept.get(full)
        if kept is None or kept[0] != stamp:
            async with self._lock:  # one compression of a file at a time, whoever asks
                kept = self._kept.get(full)
                if kept is None or kept[0] != stamp:
                    body = await asyncio.to_thread(_gzip, Path(full))
                    etag = f'"gz-{hashlib.sha256(body).hexdigest()[:32]}"'
                    kept = self._kept[full] = (stamp, body, etag)
        return full, kept[1], kept[2], info.st_mtime


def _gzip(path: Path) -> bytes:
    """The file, gzip-compressed at the highest level, with no name or time in the header
    (the same bytes for the same file)."""
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
