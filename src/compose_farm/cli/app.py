"""The ``cf`` entry point: run the root Typer app (``cli/root.py``); user errors never trace back.

Typer parses the command line, the one parser; the commands that ask every host
(``ps``, ``apply``) start their connections as soon as the config is loaded and
import what they show the answers with meanwhile (``cli/common.py:warm_up``).

Python's cycle collector is paused while cf starts (``collector_paused`` until
``resume_collector``, called where a command starts its real work: the event
loop of a command on hosts, the web server): importing creates objects that
live as long as the process, and collecting a few times over them cost about
30 ms. They are then frozen (left out of later collections), and so is
everything when the command is done, since the process is ending: looking for
cycles there cost another 50 ms. Pydantic's search for plugins (about 15 ms of
``importlib.metadata``) is skipped: cf uses none.
"""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False  # not `typing`'s: a TAB answered from the cache imports nothing more
if TYPE_CHECKING:
    import typer


def __getattr__(name: str) -> typer.Typer:
    """``app``, the root Typer app, imported on first use."""
    if name == "app":
        from compose_farm.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Interrupted(BaseException):
    """Ctrl-C outside a command's run on hosts (while cf starts, parses, reads files).

    Not a ``KeyboardInterrupt``: Click would turn that into "Aborted!" and status 1.
    While a command runs on hosts, the event loop takes Ctrl-C instead and cancels
    the run (``cli/common.py:run_async``), which reports what it cut short.
    """


def _interrupted(_signum: int, _frame: object) -> None:
    raise Interrupted


def main() -> None:
    """Entry point for ``cf`` and ``compose-farm``: user errors never show a traceback."""
    from compose_farm.cli.quickcomplete import answer_from_cache

    if answer_from_cache(os.environ):  # a TAB asked before: no Typer (quickcomplete.py)
        raise SystemExit(0)
    import signal

    from compose_farm.errors import FarmError

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    previous = signal.signal(signal.SIGINT, _interrupted)
    gc.disable()
    try:
        from compose_farm.cli.completion import asked, complete
        from compose_farm.cli.root import app

        prog_name = asked(os.environ)
        if prog_name is not None:  # the shell's TAB (cli/completion.py)
            complete(app, prog_name)
        app()
    except FarmError as error:
        from compose_farm.cli.common import report

        report(error)
    except OSError as error:
        # A file problem no command anticipated: still one line naming the file.
        from compose_farm.cli.common import report

        report(FarmError(_describe(error)))
    except Interrupted:
        sys.stderr.write("\nInterrupted before cf ran anything on a host.\n")
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        gc.freeze()


def resume_collector() -> None:
    """End the start-up pause of the cycle collector: what start-up made is frozen, and
    the command's own work is collected as usual (a long ``cf up``, the web server)."""
    gc.freeze()
    gc.enable()


def _describe(error: OSError) -> str:
    """``/path: Permission denied`` (both paths for a rename or link), as ``ls`` would say it."""
    what = error.strerror or str(error)
    if error.filename is None:
        return what
    paths = [str(error.filename)]
    if error.filename2 is not None:
        paths.append(str(error.filename2))
    return f"{' -> '.join(paths)}: {what}"
