"""cf's own stack: changing it from cf must not cut the branch cf sits on.

When cf runs in a container of a stack it manages (``examples/cf-web/``), an
``up``, ``update``, ``restart``, ``stop`` or ``down`` of that stack replaces or
stops the very container running the command: Compose stops it midway, cf
dies, its SSH connection closes and the ``docker compose`` it started on the
host can die with it, leaving the UI down. So such a command runs on the host
detached from cf (a session of its own, no terminal, its output appended to
``~/.cache/compose-farm/self-update/<stack>.log`` there), and cf says that it
is restarting itself instead of waiting for an outcome it would not live to
see. A preflight in front of the command still runs attached, so a missing
mount is reported as usual.

Which stack is cf's own: ``$CF_SELF_STACK`` (the example stack sets it), on
``$CF_SELF_HOST`` only when that is set; else, when cf runs in a Docker
container, the Compose project of that container on the host a command goes to
(one ``docker ps`` per host, asked once).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from compose_farm.executor import (
    Command,
    Event,
    ExecutorProtocol,
    OutputLine,
    Result,
    Runnable,
    Script,
    Sink,
    discard,
    docker,
)
from compose_farm.executor.pipes import BytePipe
from compose_farm.operations.preflight import PROGRAM as PREFLIGHT

STACK_ENV = "CF_SELF_STACK"
HOST_ENV = "CF_SELF_HOST"
LOG_DIR = ".cache/compose-farm/self-update"  # under the login user's home on the host

# What replaces, stops or removes containers (so, possibly cf's own).
CHANGING_COMPOSE = frozenset({"up", "down", "stop", "restart", "kill", "rm", "pause"})
CHANGING_DOCKER = frozenset({"restart", "stop", "kill", "rm", "pause"})
# Compose's global options that take a value (``docker compose -f FILE up``).
_VALUED = frozenset(
    {"-f", "--file", "-p", "--project-name", "--profile", "--env-file", "--project-directory"}
)
_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)\s")
PROJECT_LABEL = "com.docker.compose.project"

# $1 stack (the log's name), $2 folder to run in, then the command. Prints the pid.
DETACH = r"""
log="$HOME/.cache/compose-farm/self-update"
mkdir -p "$log" || exit 1
log="$log/$1.log"
dir=$2
case $dir in "~") dir=$HOME ;; "~/"*) dir=$HOME/${dir#"~/"} ;; esac
cd "$dir" || exit 1
shift 2
printf '== %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log" || exit 1
if command -v setsid >/dev/null 2>&1; then
  setsid nohup "$@" >>"$log" 2>&1 </dev/null &
else
  nohup "$@" >>"$log" 2>&1 </dev/null &
fi
echo "$!"
"""


@dataclass(frozen=True)
class Myself:
    """How cf knows its own stack: named (``$CF_SELF_STACK``), or by its container."""

    stack: str | None = None
    host: str | None = None
    container: str | None = None  # this process's container id, when in a Docker container

    @classmethod
    def of(
        cls, environ: Mapping[str, str], mountinfo: Path = Path("/proc/self/mountinfo")
    ) -> Myself:
        """From the environment, else from the container files Docker mounts into ours."""
        stack = environ.get(STACK_ENV, "").strip() or None
        host = environ.get(HOST_ENV, "").strip() or None
        container = None
        if stack is None:
            try:
                found = _CONTAINER_ID.search(mountinfo.read_text(encoding="utf-8"))
            except OSError:
                found = None
            container = found.group(1) if found else None
        return cls(stack, host, container)

    @property
    def known(self) -> bool:
        """True when there is anything to guard against."""
        return self.stack is not None or self.container is not None


@dataclass(frozen=True)
class Split:
    """A command that changes containers: ``check`` (a preflight) runs attached first,
    then ``detached`` on its own."""

    check: Script | None
    detached: Command


def split(command: Runnable) -> Split | None:
    """How ``command`` runs when it targets cf's own stack; ``None``: it changes no
    container, so it runs as it is."""
    if isinstance(command, Command):
        return Split(None, command) if changes_containers(command.argv) else None
    if command.program != PREFLIGHT or "--" not in command.args:
        return None
    cut = command.args.index("--")
    argv = command.args[cut + 1 :]
    if not changes_containers(argv):
        return None
    folders = [a[2:] for a in command.args[:cut] if a.startswith("s:")]
    check = Script(command.program, command.args[:cut])
    return Split(check, Command(argv, cwd=PurePosixPath(folders[-1]) if folders else None))


def changes_containers(argv: tuple[str, ...]) -> bool:
    """True for ``docker compose VERB`` / ``docker VERB`` that may stop a container."""
    if argv[:2] == ("docker", "compose"):
        rest = iter(argv[2:])
        for word in rest:
            if word in _VALUED:
                next(rest, None)
            elif not word.startswith("-"):
                return word in CHANGING_COMPOSE
        return False
    return len(argv) > 1 and argv[0] == "docker" and argv[1] in CHANGING_DOCKER


def detach_script(stack: str, command: Command) -> Script:
    """``command`` started on the host in a session of its own, output to its log."""
    argv = command.argv
    if command.env:
        argv = ("env", *(f"{k}={v}" for k, v in command.env.items()), *argv)
    folder = str(command.cwd) if command.cwd is not None else "."
    return Script(DETACH, (stack, folder, *argv))


class SelfGuard:
    """An executor that runs the changing commands of cf's own stack detached (see the
    module's docstring) and hands everything else to ``inner`` as it is."""

    def __init__(self, inner: ExecutorProtocol, me: Myself) -> None:
        self.inner = inner
        self.me = me
        self._projects: dict[str, asyncio.Task[str | None]] = {}

    async def run(
        self,
        host: str,
        command: Runnable,
        *,
        stack: str | None = None,
        sink: Sink = discard,
        capture: bool = False,
        stdin: str | None = None,
    ) -> Result:
        """As ``inner.run``, but see the class."""
        parts = split(command) if stack is not None and stdin is None else None
        if parts is None or stack is None or not await self.is_mine(host, stack):
            return await self.inner.run(
                host, command, stack=stack, sink=sink, capture=capture, stdin=stdin
            )
        if parts.check is not None:  # the preflight: its report as usual, its result kept
            checked = await self.inner.run(
                host, parts.check, stack=stack, sink=_lines_only(sink), capture=capture
            )
            if not checked.ok:
                sink(checked)
                return checked
        shown = parts.detached.display()
        started = await self.inner.run(
            host, detach_script(stack, parts.detached), stack=stack, capture=True
        )
        if started.ok:
            sink(
                OutputLine(
                    host,
                    stack,
                    "info",
                    f"{stack} runs this cf: `{shown}` goes on without it on {host} "
                    f"(output in ~/{LOG_DIR}/{stack}.log there); cf is restarting itself, "
                    "so its UI may be away for a moment",
                )
            )
            result = Result(host, stack, 0)
        else:
            why = started.error or started.stderr.strip() or f"exit {started.exit_status}"
            result = Result(
                host,
                stack,
                started.exit_status or 1,
                error=f"could not start it detached: {why}",
                unreachable=started.unreachable,
            )
        sink(result)
        return result

    async def is_mine(self, host: str, stack: str) -> bool:
        """True when ``stack`` on ``host`` holds the container this cf runs in."""
        if self.me.stack is not None:
            return stack == self.me.stack and self.me.host in (None, host)
        if self.me.container is None:
            return False
        if host not in self._projects:
            self._projects[host] = asyncio.ensure_future(self._project_on(host))
        return await asyncio.shield(self._projects[host]) == stack

    async def _project_on(self, host: str) -> str | None:
        assert self.me.container is not None
        ask = docker(
            "ps",
            "--no-trunc",
            "--filter",
            f"id={self.me.container}",
            "--format",
            f'{{{{.Label "{PROJECT_LABEL}"}}}}',
        )
        found = await self.inner.run(host, ask, capture=True)
        return found.stdout.strip() or None if found.ok else None

    def open_pipe(self, host: str, command: Runnable) -> AbstractAsyncContextManager[BytePipe]:
        """As ``inner``'s."""
        return self.inner.open_pipe(host, command)

    def is_local(self, host: str) -> bool:
        """As ``inner``'s."""
        return self.inner.is_local(host)

    async def ssh_connection(self, host: str) -> Any:
        """As ``inner``'s."""
        return await self.inner.ssh_connection(host)


def _lines_only(sink: Sink) -> Sink:
    def forward(event: Event) -> None:
        if isinstance(event, OutputLine):
            sink(event)

    return forward


def guarded(executor: ExecutorProtocol, environ: Mapping[str, str]) -> ExecutorProtocol:
    """``executor``, behind a ``SelfGuard`` when cf may be running in a stack it manages."""
    me = Myself.of(environ)
    return SelfGuard(executor, me) if me.known else executor
