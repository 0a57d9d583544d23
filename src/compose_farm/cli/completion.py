"""Shell completion: commands and options as Typer has them, and the farm's names.

``cf --install-completion`` writes Typer's script for the shell it runs in (bash,
zsh, fish); on every TAB the shell runs ``cf`` with ``_CF_COMPLETE=complete_bash``
(or ``_zsh``, ``_fish``) and the words typed so far, and cf prints the
candidates. Typer parses those words, the one parser; the callbacks here add the
names: stack arguments complete stack names, ``--host`` host names, ``--service``
the services of the stacks named before it on the line.

Every TAB starts a ``cf``, so the answer has a budget (100 ms, measured by
``bench/completion.py``). Starting Python and building the Typer app take most
of it; the rest must import neither Pydantic, nor Rich, nor a YAML library:

- Typer 0.29 checks each parameter's value with a Pydantic ``TypeAdapter`` it
  builds on first use: importing Pydantic and building the adapters of a command
  costs more than the whole budget. Completing needs the words only as typed, so
  a completing ``cf`` gives every parameter a stand-in that keeps them; and it
  takes help texts (zsh and fish show them) as written, where Typer would import
  Rich to strip markup they do not have (``_lighten_typer``).
- Typer builds every command of the app before it parses the line (~20 ms);
  once the line names its command, a completing ``cf`` builds only that one.
- Reading the config (ruamel.yaml, then Pydantic) and a compose project costs
  50 to 150 ms. What completion needs from them (names, each stack's hosts, each
  host's address, a stack's services) is kept in
  ``$XDG_CACHE_HOME/compose-farm/completion/`` with the identity, size and
  modification time of every file it came from, and read again only when one of
  those changed: a TAB after the config changed pays the read once.

A missing, unreadable or invalid config completes no names, and nothing a TAB
runs ever prints to the terminal: no message, no traceback.
"""

# No ``from __future__ import annotations`` here: Typer reads each completion callback's
# annotations once per parameter using it, at every start of cf; written as strings,
# evaluating them would cost ~20 ms a start (see ``_introspected``).
import contextlib
import copy
import inspect
import io
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from compose_farm.names import is_safe_name

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_FILENAME = "compose-farm.yaml"  # as config/search.py; that package imports Pydantic
# The variables that change which services a project has, besides its files.
COMPOSE_VARIABLES = ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PATH_SEPARATOR")
# Programs whose completion variable Typer's scripts set, as Click names it.
PROGRAMS = ("cf", "compose-farm")

Stamp = list[int] | None  # st_dev, st_ino, st_size, st_mtime_ns; None: no such file
# The files this TAB's answer came from, with their stamps (the config, the compose
# files): kept with the answer, which is reused only while they stay as they were.
DEPENDS: dict[str, Stamp] = {}


# Typer 0.29's zsh script, except that it completes at the first TAB of a shell too:
# Typer's only registers its function (``compdef``) when zsh autoloads the file at
# that TAB, which then completes nothing. ``zsh_eval_context`` tells the two ways the
# file is run apart, as in Click's own zsh script.
ZSH_SCRIPT = r"""
#compdef %(prog_name)s

%(complete_func)s() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" \
    %(autocomplete_var)s=complete_zsh %(prog_name)s)
}

compdef %(complete_func)s %(prog_name)s
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  %(complete_func)s "$@"
fi
"""


def use_zsh_script() -> None:
    """Make ``--install-completion`` and ``--show-completion`` write ``ZSH_SCRIPT`` for zsh."""
    try:
        from typer import _completion_classes, _completion_shared
    except ImportError:
        return
    scripts = getattr(_completion_shared, "_completion_scripts", None)
    if isinstance(scripts, dict) and "zsh" in scripts:
        scripts["zsh"] = ZSH_SCRIPT
        _completion_classes.ZshComplete.source_template = ZSH_SCRIPT


def complete_var(prog_name: str) -> str:
    """The variable a completion script sets for ``prog_name``: ``_CF_COMPLETE``."""
    return f"_{prog_name.replace('-', '_').upper()}_COMPLETE"


def asked(environ: Mapping[str, str]) -> str | None:
    """The program name a shell asks completions for (its variable is set), else ``None``."""
    return next((p for p in PROGRAMS if environ.get(complete_var(p))), None)


class _AsTyped:
    """Typer's value coercion while completing: the words stay as typed."""

    def coerce(self, value: object, param: Any, ctx: object) -> object:
        if value is None and (param.multiple or param.nargs == -1):
            return ()
        return value


def _as_written(text: str) -> str:
    return text


def _lighten_typer() -> None:
    """Spare a completing ``cf`` what Typer would import for nothing (module docstring).

    Every parameter keeps its words as typed, and help texts (shown by zsh and
    fish) are taken as they are: Typer would render each through Rich to strip
    markup, and cf's have none (``rich_markup_mode=None``). Only a completing
    ``cf`` does this, and it exits once it has answered. Should Typer change
    these internals, completion still works, slower (a test says so).
    """
    try:
        from typer import _completion_classes
        from typer.core import _TyperParameter
    except ImportError:
        return
    as_typed = _AsTyped()
    _TyperParameter.get_runtime_param = lambda self: as_typed  # type: ignore[assignment,method-assign,return-value]
    _completion_classes._sanitize_help_text = _as_written


def complete(app: typer.Typer, prog_name: str) -> NoReturn:
    """Answer the shell's completion request for ``prog_name`` and exit, printing nothing
    else: a message on stderr would land in the middle of the user's command line."""
    import typer.main

    from compose_farm.cli import quickcomplete

    status = 1
    out = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(out):
        try:
            _lighten_typer()
            command = typer.main.get_command(_only(app, _command_on_line(prog_name)))
            command.main(prog_name=prog_name, complete_var=complete_var(prog_name))
        except SystemExit as done:
            status = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
        except BaseException:  # noqa: S110 (a TAB must never show a traceback; Ctrl-C included)
            pass
    sys.stdout.write(out.getvalue())
    sys.stdout.flush()
    if status == 0:  # the same request again is answered without Typer (quickcomplete.py)
        quickcomplete.keep(os.environ, out.getvalue(), DEPENDS)
    raise SystemExit(status)


def _command_on_line(prog_name: str) -> str | None:
    """The command named on the line before the word being completed, if any: the first
    word that is not an option (cf's own options take no value). The words are read
    by Typer's completion class for the shell, as it reads them to complete."""
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init

    variable = complete_var(prog_name)
    instruction, _, shell = os.environ.get(variable, "").partition("_")
    completion_init()
    found = get_completion_class(shell)
    if instruction != "complete" or found is None:  # e.g. source_bash: print the script
        return None
    try:
        args, _ = found(None, {}, prog_name, variable).get_completion_args()  # type: ignore[arg-type]
    except (KeyError, ValueError):  # the shell's variables are missing: Typer says nothing
        return None
    return next((word for word in args if not word.startswith("-")), None)


def _only(app: typer.Typer, name: str | None) -> typer.Typer:
    """``app`` with only command or group ``name`` (all of them without one): Typer
    builds every command it has, ~20 ms that a TAB after the command name can spare."""
    from typer.main import get_command_name

    def named(info: Any) -> str | None:
        given = info.name or (info.callback.__name__ if info.callback else None)
        return get_command_name(given) if given else None

    commands = [c for c in app.registered_commands if named(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    pruned = copy.copy(app)
    pruned.registered_commands, pruned.registered_groups = commands, groups
    return pruned


# The names -----------------------------------------------------------------------


@dataclass(frozen=True)
class Farm:
    """What completion knows of the farm: stack -> where it runs, host -> address."""

    compose_dir: str
    stacks: dict[str, str]
    hosts: dict[str, str]


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file cf would read (``config/search.py``'s order), or ``None``."""
    if explicit:
        candidates = [Path(explicit).expanduser()]
    elif environ.get("CF_CONFIG"):
        candidates = [Path(environ["CF_CONFIG"]).expanduser()]
    else:
        xdg = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
        candidates = [
            Path.cwd() / CONFIG_FILENAME,
            Path(xdg).expanduser() / "compose-farm" / CONFIG_FILENAME,
        ]
    for path in candidates:
        DEPENDS[str(path.absolute())] = _stamp(path)  # a config appearing here changes names
        if path.exists() or path.is_symlink():
            return path
    return None


def cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/compose-farm/completion`` (``~/.cache`` by default)."""
    xdg = Path(environ.get("XDG_CACHE_HOME", ""))
    base = xdg if xdg.is_absolute() else Path.home() / ".cache"
    return base / "compose-farm" / "completion"


def _stamp(path: str | Path) -> Stamp:
    """Which file ``path`` is and which version of it; ``None`` when there is none."""
    try:
        found = Path(path).stat()
    except OSError:
        return None
    return [found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns]


def _regular(path: Path) -> bool:
    """True for a regular file: a FIFO or a device would block the read (and the TAB)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _cached(path: Path) -> dict[str, Any] | None:
    import json  # here: not in every start of cf, only in a TAB's

    with contextlib.suppress(OSError, ValueError):
        kept = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(kept, dict):
            return kept
    return None


def _keep(path: Path, record: dict[str, Any]) -> None:
    """Write the cache file; a cache that cannot be written only makes the next TAB slower."""
    import json

    from compose_farm.fsutil import atomic_write

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(record), default_mode=0o600)


def _cache_file(environ: Mapping[str, str], kind: str, key: str) -> Path:
    return cache_dir(environ) / f"{kind}-{zlib.crc32(key.encode()):08x}.json"


def read_farm(explicit: str | None, environ: Mapping[str, str]) -> Farm | None:
    """The farm's names from the config cf would use, or ``None`` (no config, or a broken one)."""
    path = config_path(explicit, environ)
    if path is None or not _regular(path):
        return None
    key = str(path.absolute())
    cache = _cache_file(environ, "config", key)
    stamp = _stamp(path)
    kept = _cached(cache)
    if kept is not None and kept.get("config") == key and kept.get("stamp") == stamp:
        farm = kept.get("farm")
    else:
        farm = _load_farm(path)
        _keep(cache, {"config": key, "stamp": stamp, "farm": farm})
    with contextlib.suppress(TypeError):
        return Farm(**farm) if isinstance(farm, dict) else None
    return None


def _load_farm(path: Path) -> dict[str, Any] | None:
    """Read and check the config as every command does; ``None`` when cf would refuse it."""
    from compose_farm.config import load_config
    from compose_farm.errors import FarmError

    try:
        cfg = load_config(path)
    except (FarmError, OSError):
        return None
    return {
        "compose_dir": str(cfg.compose_dir),
        "stacks": {n: "all" if s.all_hosts else ", ".join(s.hosts) for n, s in cfg.stacks.items()},
        "hosts": {n: h.address for n, h in cfg.hosts.items()},
    }


def read_services(farm: Farm, stack: str, environ: Mapping[str, str]) -> list[str]:
    """The services of a configured ``stack``'s compose project, as Compose reads it here
    (``compose_dir`` mounted on this machine); none when it cannot be read."""
    if stack not in farm.stacks:  # a name from the config: safe in a path
        return []
    folder = str(Path(farm.compose_dir) / stack)
    variables = {k: environ[k] for k in COMPOSE_VARIABLES if k in environ}
    cache = _cache_file(environ, "services", folder)
    kept = _cached(cache)
    if (
        kept is not None
        and kept.get("folder") == folder
        and kept.get("environ") == variables
        and isinstance(kept.get("files"), dict)
        and all(_stamp(p) == v for p, v in kept["files"].items())
        and isinstance(kept.get("services"), list)
    ):
        DEPENDS.update(kept["files"])
        return [str(s) for s in kept["services"]]
    files, services = _load_services(Path(farm.compose_dir), stack, environ)
    DEPENDS.update(files)
    _keep(cache, {"folder": folder, "environ": variables, "files": files, "services": services})
    return services


def _load_services(
    compose_dir: Path, stack: str, environ: Mapping[str, str]
) -> tuple[dict[str, Stamp], list[str]]:
    """The files the project depends on (read, or absent and looked for), each stamped
    before it is read, and the project's services."""
    from compose_farm.compose.assemble import read_file
    from compose_farm.compose.discovery import COMPOSE_FILE_NAMES, OVERRIDE_FILE_NAMES
    from compose_farm.compose.load import load_compose
    from compose_farm.errors import ComposeFileError, FarmError

    folder = compose_dir / stack
    looked_for = [folder / name for name in (*COMPOSE_FILE_NAMES, *OVERRIDE_FILE_NAMES, ".env")]
    files = {str(p): _stamp(p) for p in looked_for}
    if any(p.exists() and not _regular(p) for p in looked_for):
        return files, []

    def recording(path: Path) -> str:
        files.setdefault(str(path), _stamp(path))
        if not _regular(path):
            raise ComposeFileError(f"{path}: not a regular file")
        return read_file(path)

    try:
        project = load_compose(compose_dir, stack, environ, recording)
    except (FarmError, OSError, ValueError):
        return files, []
    return files, list(project.services)


# The callbacks Typer calls (``autocompletion=`` in cli/common.py) --------------------


def _introspected(callback: F) -> F:
    """``callback`` with its signature worked out once: Typer asks for it for every
    parameter that completes with it, at every start (~0.1 ms each time otherwise)."""
    callback.__signature__ = inspect.signature(callback)  # type: ignore[attr-defined]
    return callback


def _words(value: object) -> list[str]:
    """A parameter's words as Typer kept them while completing: one, several or none."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [w for w in value if isinstance(w, str)]
    return []


def _quietly(find: Callable[[], list[Any]]) -> list[Any]:
    """``find()``, or nothing when it fails: a TAB never shows an error."""
    try:
        return find()
    except Exception:
        return []


def _farm(ctx: typer.Context) -> Farm | None:
    config = ctx.params.get("config")
    return read_farm(config if isinstance(config, str) else None, os.environ)


# Help shown beside a name (zsh, fish): where a stack runs, a host's address.
_PLAIN_HELP = re.compile(r"[A-Za-z0-9._:, \[\]-]+")


def _offer(found: Mapping[str, str], incomplete: str, taken: Iterable[str]) -> list[Any]:
    """The names starting with ``incomplete`` that are not on the line yet, each with its
    help if it has plain help. Checked again here, though the config and Compose checked
    them: they are printed into the user's shell, and zsh evaluates what cf prints."""
    skip = set(taken)
    return [
        (name, help_) if _PLAIN_HELP.fullmatch(help_) else name
        for name, help_ in found.items()
        if name.startswith(incomplete) and name not in skip and is_safe_name(name)
    ]


@_introspected
def stacks(ctx: typer.Context, incomplete: str) -> list[Any]:
    """Stack names not yet on the line, each with where it runs."""

    def find() -> list[Any]:
        farm = _farm(ctx)
        if farm is None:
            return []
        return _offer(farm.stacks, incomplete, _words(ctx.params.get("stacks")))

    return _quietly(find)


@_introspected
def hosts(ctx: typer.Context, incomplete: str) -> list[Any]:
    """Host names not yet on the line, each with its address."""

    def find() -> list[Any]:
        farm = _farm(ctx)
        if farm is None:
            return []
        return _offer(farm.hosts, incomplete, _words(ctx.params.get("hosts")))

    return _quietly(find)


@_introspected
def services(ctx: typer.Context, incomplete: str) -> list[Any]:
    """Services of the stacks named before ``--service`` on the line (none named: none).

    Click stops parsing at the option whose value is being completed, before it
    gives the positional words to their parameters: those are still in ``ctx.args``.
    """

    def find() -> list[Any]:
        named = [
            *_words(ctx.params.get("stacks")),
            *_words(ctx.params.get("stack")),
            *_words(ctx.args),
        ]
        farm = _farm(ctx) if named else None
        if farm is None:
            return []
        found = {s: "" for n in dict.fromkeys(named) for s in read_services(farm, n, os.environ)}
        return _offer(found, incomplete, _words(ctx.params.get("service")))

    return _quietly(find)


def choices(*values: str) -> Callable[[str], list[str]]:
    """A callback completing one of ``values`` (``--pull always|missing|...``)."""

    def complete_choice(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return _introspected(complete_choice)
