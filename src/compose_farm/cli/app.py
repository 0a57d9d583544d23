"""The ``cf`` entry point: run the root Typer app (``cli/root.py``); user errors never trace back.

``main`` imports Typer and the command modules only after a look at the command
line: for ``cf ps`` and ``cf apply`` it first starts the hosts' SSH connections,
which then open while those modules import (see ``cli/early.py``).

Python's cycle collector is paused while cf starts: importing creates objects
that live as long as the process, and collecting a few times over them cost
about 30 ms. They are then frozen (left out of later collections), and so is
everything when the command is done, since the process is ending: looking for
cycles there cost another 50 ms.
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


def __getattr__(name: str) -> typer.Typer:
    """``app``, the root Typer app, imported on first use."""
    if name == "app":
        from compose_farm.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point for ``cf`` and ``compose-farm``: user errors never show a traceback."""
    from compose_farm.cli import early
    from compose_farm.errors import FarmError

    gc.disable()
    try:
        try:
            early.start(sys.argv[1:])
            from compose_farm.cli.root import app
        finally:
            gc.freeze()
            gc.enable()
        app()
    except FarmError as error:
        from compose_farm.cli.common import report

        report(error)
    except OSError as error:
        # A file problem no command anticipated: still one line naming the file.
        from compose_farm.cli.common import report

        report(FarmError(_describe(error)))
    finally:
        early.finish()
        gc.freeze()


def _describe(error: OSError) -> str:
    """``/path: Permission denied`` (both paths for a rename or link), as ``ls`` would say it."""
    what = error.strerror or str(error)
    if error.filename is None:
        return what
    paths = [str(error.filename)]
    if error.filename2 is not None:
        paths.append(str(error.filename2))
    return f"{' -> '.join(paths)}: {what}"
