"""Remote hosts over asyncssh: one verified connection per host per run, many channels.

The first command for a host opens its connection; every later command on that
host (from any stack, any step) reuses it as a new channel. Channels per host
are bounded below sshd's ``MaxSessions`` and handshakes in flight are bounded
across hosts (sshd's ``MaxStartups``). A host that cannot be reached fails once,
within the connect timeout, and every later command for it fails at once with
the same reason: a dead host costs one timeout per run, not one per stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from compose_farm.config import HostConfig, SshOptions
from compose_farm.errors import HostKeyError, HostUnreachableError
from compose_farm.executor.command import Runnable, Script
from compose_farm.executor.events import Result, Sink
from compose_farm.executor.pipes import CHUNK, PipeEnd, tail
from compose_farm.executor.stream import joined, pump_output
from compose_farm.ssh.identity import SshIdentity, describe_target
from compose_farm.ssh.lib import asyncssh
from compose_farm.ssh.login import connect, recorded_keys, resolve_within

log = logging.getLogger("compose_farm.ssh")


@dataclass
class _Link:
    """One host's connection (opened once) and its channel budget."""

    task: asyncio.Task[asyncssh.SSHClientConnection] | None = None
    channels: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    limit: int = 8
    held: list[asyncio.Future[bool]] = field(default_factory=list)
    broken: HostUnreachableError | None = None


class SshPool:
    """Connections to every remote host of one run, opened lazily and concurrently."""

    def __init__(
        self,
        hosts: dict[str, HostConfig],
        options: SshOptions,
        identity: SshIdentity,
    ) -> None:
        self.hosts = hosts
        self.options = options
        self.identity = identity
        self.connections_opened = 0
        self._handshakes = asyncio.Semaphore(options.max_concurrent_handshakes)
        self._links: dict[str, _Link] = {}

    def _link(self, host: str) -> _Link:
        link = self._links.get(host)
        if link is None:
            limit = self.options.max_channels_per_host
            link = _Link(channels=asyncio.Semaphore(limit), limit=limit)
            self._links[host] = link
        return link

    async def connection(self, host: str) -> asyncssh.SSHClientConnection:
        """The host's connection, opening it on first use; raises ``HostUnreachableError``."""
        link = self._link(host)
        if link.broken is not None:
            raise link.broken
        if link.task is None:
            link.task = asyncio.ensure_future(self._open(host))
        try:
            return await asyncio.shield(link.task)
        except HostUnreachableError as exc:
            link.broken = exc
            raise

    async def _open(self, host: str) -> asyncssh.SSHClientConnection:
        cfg = self.hosts[host]
        timeout = self.options.connect_timeout
        target_name = describe_target(cfg)
        offered: list[str] = []
        async with self._handshakes:
            try:
                target = await resolve_within(self.identity, cfg, timeout)
            except (OSError, ValueError) as exc:
                raise HostUnreachableError(
                    host, f"cannot read the ssh settings for {target_name}: {_reason(exc)}"
                ) from None
            try:
                conn = await connect(
                    self.identity,
                    host,
                    cfg,
                    timeout=timeout,
                    target=target,
                    offered=offered,
                    keepalive_interval=max(2.0, timeout / 2),
                    keepalive_count_max=2,
                )
            except TimeoutError:
                raise HostUnreachableError(
                    host,
                    f"no answer within {timeout:g} s (tried ssh {target_name})",
                    hint="check that the host is up and its address is right; "
                    "raise ssh.connect_timeout in the config for slow links",
                ) from None
            except asyncssh.HostKeyNotVerifiable as exc:
                changed = bool(recorded_keys(self.identity, target))
                raise self.identity.host_key_error(host, cfg, str(exc), changed=changed) from None
            except asyncssh.PermissionDenied:
                raise HostUnreachableError(
                    host,
                    f"authentication refused (tried ssh {target_name} with "
                    f"{', '.join(offered) or 'no key at all'})",
                    hint="run `cf ssh setup` to install a key, or add the key to ssh-agent",
                ) from None
            except ConnectionRefusedError:
                raise HostUnreachableError(
                    host,
                    f"connection refused (tried ssh {target_name}): is sshd running?",
                ) from None
            except (OSError, asyncssh.Error) as exc:
                raise HostUnreachableError(
                    host, f"cannot connect (tried ssh {target_name}): {_reason(exc)}"
                ) from None
        self.connections_opened += 1
        return conn

    async def run(
        self,
        host: str,
        command: Runnable,
        *,
        stack: str | None,
        sink: Sink,
        capture: bool,
        stdin: str | None = None,
    ) -> Result:
        """Run ``command`` on ``host`` over its shared connection."""
        try:
            conn = await self.connection(host)
        except HostKeyError as exc:
            return _failed(host, stack, exc.message, sink, unreachable=False)
        except HostUnreachableError as exc:
            return _failed(host, stack, exc.message, sink, unreachable=True)
        out: list[str] | None = [] if capture else None
        err: list[str] | None = [] if capture else None
        link = self._link(host)
        line = command.shell() if stdin is not None else hang_up_with_channel(command)
        try:
            proc = await self._channel(conn, link, line)
        except SessionRefused as exc:
            return _failed(host, stack, f"host {host!r}: {exc}", sink, unreachable=False)
        except (OSError, asyncssh.Error) as exc:
            return self._lost(host, stack, exc, sink)
        try:
            completed = await _follow(
                proc,
                stdin,
                host=host,
                stack=stack,
                sink=sink,
                keep=(out, err),
                close_input=not (isinstance(command, Script) and command.keep_stdin_open),
            )
        except (OSError, asyncssh.Error) as exc:
            return self._lost(host, stack, exc, sink)
        finally:
            link.channels.release()
        if completed.exit_status is None:
            signal = completed.exit_signal[0] if completed.exit_signal else None
            if signal is None:
                return self._lost(host, stack, ConnectionError("connection lost"), sink)
            status = 128 + _SIGNALS.get(signal, 1)
        else:
            status = completed.exit_status
        result = Result(host, stack, status, stdout=joined(out), stderr=joined(err))
        sink(result)
        return result

    @contextlib.asynccontextmanager
    async def open_pipe(self, host: str, command: Runnable) -> AsyncIterator[SshPipe]:
        """``command`` on a new channel of ``host``'s connection, stdin/stdout as bytes.

        Raises ``HostUnreachableError`` when the host cannot be reached. The channel
        is closed when the block is left, which ends the command if it still runs.
        """
        conn = await self.connection(host)
        link = self._link(host)
        try:
            proc = await self._channel(conn, link, command.shell())
        except SessionRefused as exc:
            raise HostUnreachableError(host, str(exc)) from None
        except (OSError, asyncssh.Error) as exc:
            raise HostUnreachableError(host, f"cannot open a channel: {_reason(exc)}") from None
        try:
            yield SshPipe(host, proc)
        finally:
            proc.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait_closed(), 5)
            link.channels.release()

    async def _channel(
        self, conn: asyncssh.SSHClientConnection, link: _Link, line: str
    ) -> asyncssh.SSHClientProcess[bytes]:
        """``line`` on a new channel of ``conn``, holding one of ``link``'s permits (the
        caller releases it when the channel is done).

        sshd may say no to one more session (its MaxSessions is lower than ours, or it
        has not freed a closed one yet): then use one channel fewer on this host from
        now on, wait a little, try again; ``SessionRefused`` after ``OPEN_ATTEMPTS``.
        A connection that closed is no refusal: ``ConnectionError``, at once.
        A pipe's copy opens its channels as a command does, beside the others.
        """
        for attempt in range(OPEN_ATTEMPTS):
            await link.channels.acquire()
            try:
                # bytes: ``stream.pieces`` decodes, a line at most a piece
                return await conn.create_process(line, stdin=asyncssh.PIPE, encoding=None)
            except asyncssh.ChannelOpenError as exc:
                link.channels.release()
                if conn.is_closed() or exc.reason == CONNECTION_CLOSED:
                    # not a refusal: the connection is gone; the caller marks it lost,
                    # so the next run connects again
                    raise ConnectionError(_reason(exc)) from None
                self._shrink(link)
                if attempt == OPEN_ATTEMPTS - 1:
                    raise SessionRefused(
                        f"the host refused to open a session ({_reason(exc)})"
                    ) from None
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
            except BaseException:
                link.channels.release()
                raise
        raise SessionRefused("the host refused to open a session")  # not reached

    def _shrink(self, link: _Link) -> None:
        """Hold one channel permit for good (never below one usable channel)."""
        if link.limit > 1:
            link.limit -= 1
            link.held.append(asyncio.ensure_future(link.channels.acquire()))

    def _lost(self, host: str, stack: str | None, exc: BaseException, sink: Sink) -> Result:
        error = HostUnreachableError(host, f"lost the connection: {_reason(exc)}")
        self._link(host).broken = error
        return _failed(host, stack, error.message, sink, unreachable=True)

    async def close(self) -> None:
        """Close every connection this pool opened."""
        for link in self._links.values():
            for held in link.held:
                held.cancel()
            if link.task is None:
                continue
            if not link.task.done():
                link.task.cancel()
            with contextlib.suppress(BaseException):
                conn = await link.task
                conn.close()
                await conn.wait_closed()


OPEN_ATTEMPTS = 12
# What asyncssh itself says when a channel is asked of a connection that closed (sshd's
# refusal of one more session comes with its own words, "open failed", and the same code).
CONNECTION_CLOSED = "SSH connection closed"


class SessionRefused(Exception):
    """sshd refused to open one more session on a connection, ``OPEN_ATTEMPTS`` times."""


# sshd does not deliver signals to sessions of every user, and closing a channel
# without a terminal does not stop the command on the other end. So each command
# runs beside a watcher that stops it when its stdin (the channel) closes: when
# cf is interrupted, what it started on the hosts stops too.
#
# The command runs in a session of its own (`setsid`, where the host has it), so
# the watcher's signals reach everything it started, not only the first shell.
# After the hang-up the watcher sends TERM, TERM again 2 s later (the docker CLI
# kills a plugin such as Compose on a second signal: the first can miss a plugin
# still starting), then KILL 3 s later; it stops as soon as nothing is left. From
# the hang-up on it ignores TERM, so this shell, done waiting, cannot cut it short.
HANG_UP = r"""
exec 3<&0
if command -v setsid >/dev/null 2>&1; then
  setsid sh -c "$1" </dev/null 3<&- & child=$!; group=-$child
else
  sh -c "$1" </dev/null 3<&- & child=$!; group=$child
fi
{
  cat <&3
  trap '' TERM
  kill -TERM "$group" || kill -TERM "$child" || exit 0
  sleep 2; kill -TERM "$group" || exit 0
  sleep 3; kill -KILL "$group"
} >/dev/null 2>&1 &
watcher=$!
wait "$child"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"""


async def _follow(
    proc: asyncssh.SSHClientProcess[bytes],
    stdin: str | None,
    *,
    host: str,
    stack: str | None,
    sink: Sink,
    keep: tuple[list[str] | None, list[str] | None],
    close_input: bool = True,
) -> asyncssh.SSHCompletedProcess:
    """Feed ``stdin`` and pump the output until the command ends and its channel closes
    (``close_input``: then end the input; else the command watches it for a hang-up).

    On any failure the channel is closed, which stops the command (``HANG_UP``).
    """
    try:
        if stdin is not None:
            proc.stdin.write(stdin.encode())
            if close_input:
                proc.stdin.write_eof()
        await pump_output(
            proc.stdout.read, proc.stderr.read, host=host, stack=stack, sink=sink, keep=keep
        )
        completed = await proc.wait(check=False)
        # sshd frees the session slot only once the channel is closed
        await proc.wait_closed()
    except BaseException:
        # Ctrl-C, a sink that failed, a lost connection: ask the remote command to
        # stop, then hang up the channel (its watcher stops what is left).
        with contextlib.suppress(Exception):
            proc.send_signal("TERM")
        proc.close()
        raise
    return completed


def hang_up_with_channel(command: Runnable) -> str:
    """The shell line that runs ``command`` and stops it when the channel closes."""
    return Script(HANG_UP, (command.shell(),)).shell()


_SIGNALS = {"HUP": 1, "INT": 2, "KILL": 9, "TERM": 15, "PIPE": 13}


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.rstrip(".")


def _failed(host: str, stack: str | None, message: str, sink: Sink, *, unreachable: bool) -> Result:
    result = Result(host, stack, 255, error=message, unreachable=unreachable)
    sink(result)
    return result


class SshPipe:
    """A ``BytePipe`` over an asyncssh channel; lost connections read as ``ConnectionError``."""

    def __init__(self, host: str, proc: asyncssh.SSHClientProcess[bytes]) -> None:
        self.host = host
        self._proc = proc
        self._stderr_task = asyncio.ensure_future(tail(proc.stderr.read))

    async def write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()
        except (asyncssh.Error, BrokenPipeError) as exc:
            raise ConnectionError(_reason(exc)) from None

    async def close_input(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            self._proc.stdin.write_eof()

    async def read(self) -> bytes:
        try:
            return await self._proc.stdout.read(CHUNK)
        except asyncssh.Error as exc:
            raise ConnectionError(_reason(exc)) from None

    def abort(self) -> None:
        self._proc.close()

    async def finish(self) -> PipeEnd:
        try:
            completed = await self._proc.wait(check=False)
            stderr = await self._stderr_task
        except (asyncssh.Error, OSError):
            return PipeEnd(self.host, None, "")
        text = stderr.decode("utf-8", "replace")
        return PipeEnd(self.host, completed.exit_status, text)
