"""The TABs whose answer never depends on the farm, answered from a cache without Typer.

Completing a command's name, or an option (a word that starts with ``-``), gives
the same answer for the same words until cf itself changes: it comes from cf's
commands, never from the config. Building the Typer app for it costs more than
the 100 ms a TAB may take (``cli/completion.py``), so the first such answer is
kept, and the same request later is answered from it before anything else is
imported: only ``os``, ``zlib`` and this file (not even ``pathlib`` or ``json``).

The answer is kept under ``$XDG_CACHE_HOME/compose-farm/completion/`` (0600,
its first line the key, the rest the answer as printed),
keyed by everything it depends on: the shell's request (the completion variable
and the words it passes), cf's version and the size and modification time of
each module of ``compose_farm/cli`` (where commands and options are declared).
Anything else (a stack, host or service name) goes the slow way, through Typer
and the farm's own cache of names.
"""

# os.path, not pathlib: importing pathlib (and urllib.parse with it) costs more than the
# rest of this answer.
# ruff: noqa: PTH100, PTH111, PTH117, PTH118, PTH120, PTH123

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


def complete_var(prog_name: str) -> str:
    """The variable a completion script sets for ``prog_name``: ``_CF_COMPLETE``."""
    return f"_{prog_name.replace('-', '_').upper()}_COMPLETE"


def words_of(environ: Mapping[str, str], shell: str) -> tuple[list[str], str] | None:
    """(the words before the one completed, without the program's name; that word), as
    the shell's script passes them; ``None`` when they cannot be told."""
    if shell == "bash":
        words = environ.get("COMP_WORDS", "").split()
        try:
            at = int(environ.get("COMP_CWORD", ""))
        except ValueError:
            return None
        current = words[at] if 0 <= at < len(words) else ""
        return words[1:at], current
    line = environ.get("_TYPER_COMPLETE_ARGS")
    if line is None:
        return None
    words = line.split()
    if shell == "fish" and (not line or line[-1].isspace()):
        return words[1:], ""
    if not words:
        return None
    return words[1:-1], words[-1]


def static(environ: Mapping[str, str], shell: str) -> bool:
    """True when the answer cannot depend on the farm: an option, or a word on a line
    that names no command yet (cf's own options take no value)."""
    found = words_of(environ, shell)
    if found is None:
        return False
    before, current = found
    return current.startswith("-") or all(w.startswith("-") for w in before)


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
    """(the file, the key) that hold the answer to this request, when it is a static one.
    The key is one line: the ``repr`` of what the answer depends on."""
    found = _request(environ)
    if found is None or not static(environ, found[1]):
        return None
    variable, _shell = found
    request = (variable, environ[variable], *(environ.get(name) for name in REQUEST))
    key = repr((request, _code_stamp()))
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    name = f"answer-{zlib.crc32(key.encode()):08x}"
    return os.path.join(base, "compose-farm", "completion", name), key


def answer_from_cache(environ: Mapping[str, str]) -> bool:
    """Print the kept answer to this request and return True; False when there is none."""
    entry = cache_entry(environ)
    if entry is None:
        return False
    path, key = entry
    try:
        with open(path, encoding="utf-8") as kept:
            first, _, out = kept.read().partition("\n")
    except (OSError, ValueError):
        return False
    if first != key:
        return False
    sys.stdout.write(out)
    sys.stdout.flush()
    return True


def keep(environ: Mapping[str, str], out: str) -> None:
    """Keep ``out``, the answer Typer gave to this request, when it is a static one."""
    entry = cache_entry(environ)
    if entry is None:
        return
    path, key = entry
    from pathlib import Path

    from compose_farm.fsutil import atomic_write

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(path), f"{key}\n{out}", default_mode=0o600)
    except OSError:
        pass
