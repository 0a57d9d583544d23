"""A TAB asked before, answered from a cache without Typer while its sources are unchanged.

Building the Typer app costs a TAB most of the 100 ms it may take
(``cli/completion.py``). So each answer is kept, and the same request later is
answered from it before anything else is imported (only ``os``, ``zlib`` and
this file; not even ``pathlib`` or ``json``), as long as what it came from is as
it was:

- the request: the completion variable and the words the shell passes, the
  working folder and the variables that choose the config and the compose
  project (``CF_CONFIG``, ``XDG_CONFIG_HOME``, ``HOME``, ``COMPOSE_*``);
- cf itself: its version and the size and time of each module of
  ``compose_farm/cli`` (where commands and options are declared);
- the files the names came from (``completion.DEPENDS``): the config and every
  place cf looked for one, and for service names the stack's compose files and
  ``.env``, each with its device, inode, size and modification time, checked
  with one ``stat`` each.

Answers are kept under ``$XDG_CACHE_HOME/compose-farm/completion/`` (0600: the
key line, the sources line, then the answer as printed); past ``MAX_ANSWERS``
the oldest are dropped.
"""

# os.path, not pathlib: importing pathlib (and urllib.parse with it) costs more than the
# rest of this answer.
# ruff: noqa: PTH100, PTH109, PTH111, PTH116, PTH117, PTH118, PTH120, PTH123

from __future__ import annotations

import os
import sys
import zlib

TYPE_CHECKING = False  # not `typing`'s: its import costs a TAB ~5 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

PROGRAMS = ("cf", "compose-farm")
# What Typer's bash, zsh and fish scripts pass besides the completion variable.
REQUEST = ("COMP_WORDS", "COMP_CWORD", "_TYPER_COMPLETE_ARGS", "_TYPER_COMPLETE_FISH_ACTION")
CLI = os.path.dirname(os.path.abspath(__file__))
# Variables that choose the config cf reads (``completion.config_path``); every
# ``COMPOSE_*`` one counts too (they choose a project's files and services).
CHOOSING = frozenset({"CF_CONFIG", "XDG_CONFIG_HOME", "HOME"})
SEP, STAMP_SEP = "\x1e", "\x1f"  # between sources; between a source's path and stamp
MAX_ANSWERS = 500


def complete_var(prog_name: str) -> str:
    """The variable a completion script sets for ``prog_name``: ``_CF_COMPLETE``."""
    return f"_{prog_name.replace('-', '_').upper()}_COMPLETE"


def _request(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(completion variable, shell) of a completion request for cf, else ``None``."""
    for prog in PROGRAMS:
        variable = complete_var(prog)
        instruction, _, shell = environ.get(variable, "").partition("_")
        if instruction == "complete" and shell in ("bash", "zsh", "fish"):
            return variable, shell
    return None


def _code_stamp() -> tuple[object, ...]:
    """cf's version, and the size and time of each module that declares commands."""
    from compose_farm import __version__

    stamp: list[object] = [__version__]
    try:
        with os.scandir(CLI) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    info = entry.stat()
                    stamp.append((entry.name, info.st_size, info.st_mtime_ns))
    except OSError:
        pass
    return tuple(stamp)


def cache_entry(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(the file, the key) that hold the answer to this request.
    The key is one line: the ``repr`` of what the answer depends on but files."""
    found = _request(environ)
    if found is None:
        return None
    variable, _shell = found
    request = (variable, environ[variable], *(environ.get(name) for name in REQUEST))
    try:
        here = os.getcwd()
    except OSError:
        return None
    chosen = tuple(
        (k, v) for k, v in sorted(environ.items()) if k in CHOOSING or k.startswith("COMPOSE_")
    )
    key = repr((request, here, chosen, _code_stamp()))
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    name = f"answer-{zlib.crc32(key.encode()):08x}"
    return os.path.join(base, "compose-farm", "completion", name), key


def _stamp(path: str) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return "-"
    return f"{info.st_dev},{info.st_ino},{info.st_size},{info.st_mtime_ns}"


def answer_from_cache(environ: Mapping[str, str]) -> bool:
    """Print the kept answer to this request and return True; False when there is none,
    or when a file it came from changed."""
    entry = cache_entry(environ)
    if entry is None:
        return False
    path, key = entry
    try:
        with open(path, encoding="utf-8") as kept:
            text = kept.read()
    except (OSError, ValueError):
        return False
    first, _, rest = text.partition("\n")
    sources, _, out = rest.partition("\n")
    if first != key:
        return False
    for source in sources.split(SEP) if sources else ():
        name, _, stamp = source.partition(STAMP_SEP)
        if _stamp(name) != stamp:
            return False
    sys.stdout.write(out)
    sys.stdout.flush()
    return True


def keep(environ: Mapping[str, str], out: str, depends: Mapping[str, list[int] | None]) -> None:
    """Keep ``out``, the answer Typer gave to this request, with the files it came from
    (``depends``: path -> its device, inode, size and time, taken before it was read, or
    ``None`` for a file looked for and absent: a file changed meanwhile is then seen as
    changed at the next TAB)."""
    entry = cache_entry(environ)
    if entry is None or any(bad in p for p in depends for bad in ("\n", SEP, STAMP_SEP)):
        return
    path, key = entry

    def stamp(found: list[int] | None) -> str:
        return "-" if found is None else ",".join(str(n) for n in found)

    sources = SEP.join(f"{p}{STAMP_SEP}{stamp(depends[p])}" for p in sorted(depends))
    from pathlib import Path

    from compose_farm.fsutil import atomic_write

    try:
        folder = Path(path).parent
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(path), f"{key}\n{sources}\n{out}", default_mode=0o600)
        kept = sorted(folder.glob("answer-*"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[: max(0, len(kept) - MAX_ANSWERS)]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
