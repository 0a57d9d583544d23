"""asyncssh, imported without its slow search for a liboqs that is not installed.

On import, asyncssh looks for liboqs (for the ``sntrup761`` post-quantum key
exchange) with ``ctypes.util.find_library``, which on Linux runs ``ldconfig -p``,
then ``gcc`` and ``ld``, for two names: about 20 ms on every cf run. Where
nothing named like liboqs is in the linker cache or in a folder those tools
search, that search cannot find it, so it is skipped and asyncssh goes on as
it would without liboqs. Where such a file exists, asyncssh searches exactly as
usual, and post-quantum key exchange works as before. Either way asyncssh
still offers ML-KEM key exchange through ``cryptography``.

Import asyncssh as ``from compose_farm.ssh.lib import asyncssh``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_NAMES = ("oqs", "liboqs")  # what asyncssh asks find_library for
_LINKER_CACHE = Path("/etc/ld.so.cache")  # what `ldconfig -p` lists
_LIB_ROOTS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/local/lib64")


def _library_folders() -> list[Path]:
    """Where ``gcc -l`` and ``ld -l`` look on Linux: ``$LIBRARY_PATH``, ``$LD_LIBRARY_PATH``,
    the usual lib folders and their multiarch subfolders (``x86_64-linux-gnu``)."""
    listed = [os.environ.get(var, "").split(":") for var in ("LIBRARY_PATH", "LD_LIBRARY_PATH")]
    folders = [Path(p) for paths in listed for p in paths if p]
    for root in map(Path, _LIB_ROOTS):
        folders.append(root)
        try:
            folders += [sub for sub in root.iterdir() if "-linux-" in sub.name]
        except OSError:
            continue
    return folders


def liboqs_may_be_installed() -> bool:
    """False only when ``find_library`` is sure not to find liboqs (checked on Linux only)."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        if b"liboqs" in _LINKER_CACHE.read_bytes():
            return True
    except OSError:
        return True  # no cache to read: let `ldconfig` answer
    # `gcc -lNAME` and `ld -lNAME` find only libNAME.so or libNAME.a.
    files = [f"lib{name}{ext}" for name in _NAMES for ext in (".so", ".a")]
    return any((folder / f).exists() for folder in _library_folders() for f in files)


def _import() -> None:
    if "asyncssh" in sys.modules or liboqs_may_be_installed():
        return
    import ctypes.util

    search = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        return None if name in _NAMES else search(name)

    ctypes.util.find_library = find_library
    try:
        import asyncssh  # noqa: F401
    finally:
        ctypes.util.find_library = search


_import()

import asyncssh  # noqa: E402  (after the import above, which does the work)

__all__ = ["asyncssh"]
