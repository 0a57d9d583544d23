"""Lifecycle hooks: the user's commands before and after up, down and migrate.

A hook runs on the stack's host (over cf's connection, in the stack folder)
or on this machine (``on: local``), with ``CF_STACK``, ``CF_HOST``,
``CF_OLD_HOST`` (moves), ``CF_EVENT`` and ``CF_STACK_DIR`` in its environment.
Its output goes to the same sink as compose output. The hook's command line is
the user's own shell code from the config; the values cf adds reach it only as
quoted environment assignments.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from compose_farm.config import Config, HookCommand, HookEvent
from compose_farm.executor import Command, ExecutorProtocol, OutputLine, Script, Sink
from compose_farm.executor.local import LocalRunner

LOCAL = "local"

# $1: the stack folder (the login folder when it does not exist yet), $2: the hook's
# command line, then NAME=VALUE pairs for its environment.
HOST_HOOK_PROGRAM = r"""
cd "$1" 2>/dev/null || cd
hook=$2
shift 2
exec env "$@" sh -c "$hook"
"""


def hook_environment(
    config: Config, event: HookEvent, stack: str, host: str, old_host: str | None
) -> dict[str, str]:
    """The ``CF_*`` variables a hook sees."""
    env = {
        "CF_EVENT": event,
        "CF_STACK": stack,
        "CF_HOST": host,
        "CF_STACK_DIR": str(config.stack_dir(stack)),
    }
    if old_host is not None:
        env["CF_OLD_HOST"] = old_host
    return env


def _local_folder(config: Config, stack: str) -> Path:
    here = Path(str(config.stack_dir(stack)))
    return here if here.is_dir() else config.path.resolve().parent


async def run_hooks(
    executor: ExecutorProtocol,
    config: Config,
    event: HookEvent,
    stack: str,
    host: str,
    sink: Sink,
    *,
    old_host: str | None = None,
) -> str | None:
    """Run the stack's hooks for ``event`` in order; ``None`` when all succeeded, else
    why the first failing one failed (the rest are not run)."""
    for hook in config.stacks[stack].hooks.get(event, ()):
        problem = await _run_one(executor, config, hook, event, stack, host, sink, old_host)
        if problem is not None:
            return problem
    return None


async def _run_one(
    executor: ExecutorProtocol,
    config: Config,
    hook: HookCommand,
    event: HookEvent,
    stack: str,
    host: str,
    sink: Sink,
    old_host: str | None,
) -> str | None:
    env = hook_environment(config, event, stack, host, old_host)
    where = LOCAL if hook.on == "local" else host
    sink(OutputLine(host=where, stack=stack, stream="info", line=f"{event} hook: {hook.run}"))
    if hook.on == "local":
        command = Command(
            argv=("sh", "-c", hook.run), cwd=PurePosixPath(_local_folder(config, stack)), env=env
        )
        result = await LocalRunner(LOCAL).run(command, stack=stack, sink=sink, capture=False)
    else:
        pairs = tuple(f"{k}={v}" for k, v in env.items())
        script = Script(HOST_HOOK_PROGRAM, (str(config.stack_dir(stack)), hook.run, *pairs))
        result = await executor.run(host, script, stack=stack, sink=sink)
    if result.ok:
        return None
    why = result.error or f"exit status {result.exit_status}"
    place = "on this machine" if hook.on == "local" else f"on {host}"
    return f"{event} hook failed {place} ({why}): {hook.run}"
