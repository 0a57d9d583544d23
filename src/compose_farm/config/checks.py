"""Cross references the models cannot check: names, hosts, data folders, hook events.

They run on a file whose shape Pydantic accepted, and report every problem
at once, each at its key and line.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from compose_farm.config.models import ALL_HOSTS, HOOK_EVENTS
from compose_farm.config.problems import Loc, Locator
from compose_farm.config.schema import RawConfig, RawHooks, RawStack
from compose_farm.errors import Problem
from compose_farm.names import RESERVED_HOST_NAMES, name_problem


def check_references(cfg: RawConfig, at: Locator) -> list[Problem]:
    """Every problem with what the file's values refer to or name."""
    problems: list[Problem] = []
    if not PurePosixPath(cfg.compose_dir).is_absolute():
        problems.append(
            at.problem("must be an absolute path (the same path on every host)", ["compose_dir"])
        )
    elif (why := path_problem(cfg.compose_dir)) is not None:
        problems.append(at.problem(why, ["compose_dir"]))
    if not cfg.hosts:
        problems.append(at.problem("is empty: add at least one host", ["hosts"]))
    for host in cfg.hosts:
        if host in RESERVED_HOST_NAMES:
            why = f"'{host}' is reserved (it means every host); pick another host name"
            problems.append(at.problem(why, ["hosts", host]))
        elif (why := name_problem(host)) is not None:
            problems.append(at.problem(f"host name {why}", ["hosts", host]))
    problems += _check_hooks(cfg.hooks, at, ())
    for name, stack in cfg.stacks.items():
        if (why := name_problem(name)) is not None:
            problems.append(at.problem(f"stack name {why}", ["stacks", name]))
            continue
        problems += _check_hosts(stack, sorted(cfg.hosts), at, ("stacks", name, "hosts"))
        problems += _check_data(stack, at, ("stacks", name, "data"))
        problems += _check_hooks(stack.hooks, at, ("stacks", name))
    if cfg.traefik_stack is not None and cfg.traefik_stack not in cfg.stacks:
        why = f"'{cfg.traefik_stack}' is not a stack in this config"
        problems.append(at.problem(why, ["traefik_stack"]))
    return problems


def _check_hosts(stack: RawStack, known: list[str], at: Locator, loc: Loc) -> list[Problem]:
    """A stack's hosts: known, each once, and ``all`` alone, never in a list."""
    problems: list[Problem] = []
    listed = isinstance(stack.hosts, list)
    names = stack.hosts if isinstance(stack.hosts, list) else [stack.hosts]
    if listed and not names:
        problems.append(
            at.problem("the host list is empty; name at least one host or use 'all'", loc)
        )
    seen: set[str] = set()
    for i, host in enumerate(names):
        where = [*loc, i] if listed else loc
        if host == ALL_HOSTS:
            if listed:
                problems.append(
                    at.problem("'all' cannot be mixed with host names in a list", where)
                )
            continue
        if host in seen:
            problems.append(at.problem(f"host '{host}' is listed twice", where))
        seen.add(host)
        if host not in known:
            shown = ", ".join(known) or "none"
            problems.append(at.problem(f"unknown host '{host}' (known hosts: {shown})", where))
    return problems


def _check_data(stack: RawStack, at: Locator, loc: Loc) -> list[Problem]:
    """A stack's ``data`` folders: single-host stacks only, inside or outside the folder,
    never the folder itself or a way out of it with ``..``."""
    problems: list[Problem] = []
    if stack.data and (
        stack.hosts == ALL_HOSTS or (isinstance(stack.hosts, list) and len(stack.hosts) > 1)
    ):
        several = "data moves with a stack that runs on one host; this stack runs on several"
        problems.append(at.problem(several, loc))
    for i, folder in enumerate(stack.data):
        if (why := _data_folder_problem(folder)) is not None:
            problems.append(at.problem(f"data folder {folder!r} {why}", [*loc, i]))
    return problems


def _data_folder_problem(folder: str) -> str | None:
    pure = PurePosixPath(folder)
    if not folder.strip():
        return "must be a folder path"
    if ".." in pure.parts:
        return "must not contain '..'"
    if not pure.is_absolute() and pure == PurePosixPath("."):
        return "must be a folder inside the stack folder, not the stack folder itself"
    if pure.is_absolute() and pure == PurePosixPath("/"):
        return "must not be /"
    return path_problem(folder)


def _check_hooks(hooks: RawHooks | None, at: Locator, loc: Loc) -> list[Problem]:
    known = ", ".join(HOOK_EVENTS)
    return [
        at.problem(f"unknown hook event (the events are {known})", [*loc, "hooks", event])
        for event in hooks or {}
        if event not in HOOK_EVENTS
    ]


def path_problem(path: str) -> str | None:
    """Why a folder path cannot be handed to hosts' programs safely, or ``None``.

    Paths reach shells only quoted, which copes with any byte but NUL; but a
    control character (a newline above all) would split the line-based
    listings and reports that come back, and is never meant.
    """
    bad = sorted({c for c in path if ord(c) < 32 or ord(c) == 127})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"must not contain control characters (found {shown})"
    return None
