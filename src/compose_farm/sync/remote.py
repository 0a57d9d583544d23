"""Folder operations on hosts, each one command on the host's existing connection.

List a folder, checksum its files, receive a tar stream into it, send some of
its files as a tar stream, remove paths from it. The programs are constants;
folders and paths reach them only as quoted positional arguments or on stdin.
They need ``sh``, ``find`` with ``-printf`` (GNU findutils), ``tar`` and
``sha256sum``.
"""

from __future__ import annotations

import asyncio
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import IO, cast

from compose_farm.errors import FarmError, HostUnreachableError, TransferError
from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.executor.pipes import BytePipe, PipeEnd, relay
from compose_farm.sync.manifest import Entry, listed_at, parse_checksums, parse_listing

NO_GNU_FIND = 98

# A missing folder lists as nothing at all; an existing one starts with a record for
# itself (".", with the host's clock as its time), then one per entry: "KIND SIZE
# MTIME", path, link target, every field NUL-terminated (any byte but NUL can be in
# a file name).
LIST_PROGRAM = r"""
cd "$1" 2>/dev/null || exit 0
find . -maxdepth 0 -printf '' 2>/dev/null || {
  echo "this host's find has no -printf: install GNU findutils" >&2; exit 98; }
printf 'd 0 %s\0.\0\0' "$(date +%s.%N)"
# A file that vanishes while the folder is read (it is in use) is no error; any
# other complaint of find's (an unreadable folder) is.
{ find . -mindepth 1 -printf '%y %s %T@\0%P\0%l\0' 2>&1 1>&3 3>&- |
    grep -v -e 'No such file or directory' >&2 && exit 1; } 3>&1
exit 0
"""

# $2 = "listed": checksum only the NUL-separated names on stdin; "live": the folder is
# in use, so files that vanish or cannot be read meanwhile are left out, not errors
# (a file left out is simply not vouched for).
CHECKSUM_PROGRAM = r"""
cd "$1" 2>/dev/null || exit 0
if [ "$2" = listed ]; then exec xargs -0 -r sha256sum --; fi
if [ "$2" = live ]; then find . -type f -print0 | xargs -0 -r sha256sum -- 2>/dev/null; exit 0; fi
find . -type f -print0 | xargs -0 -r sha256sum --
"""

# $2: "owners" keeps numeric owners (data), anything else leaves files to the login user.
RECEIVE_PROGRAM = r"""
mkdir -p "$1" && cd "$1" || exit 1
if [ "$2" = owners ]; then
  exec tar -x -p --numeric-owner --same-owner -f -
fi
exec tar -x -p --no-same-owner -f -
"""

# Sends the NUL-separated names (``members``) in the file after it, as POSIX tar: times
# to the nanosecond, numeric owners. Also the forced command of a host-to-host copy.
TAR_CREATE = "tar -c -f - --format=posix --numeric-owner --no-recursion --null --no-unquote -T"
TAR_SEND = f"{TAR_CREATE} -"  # the names on stdin
SEND_PROGRAM = f"""
cd "$1" || exit 1
exec {TAR_SEND}
"""

# Paths after $1, deepest first: folders only when empty, files and links always.
REMOVE_PROGRAM = r"""
cd "$1" 2>/dev/null || exit 0
shift
for p; do
  if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" 2>/dev/null || true
  else rm -f -- "$p"; fi
done
"""

# Set a folder aside (it is never overwritten in place): $1 -> $2.
SET_ASIDE_PROGRAM = r"""
[ -e "$1" ] || exit 0
[ ! -e "$2" ] || { echo "$2 already exists" >&2; exit 1; }
exec mv -- "$1" "$2"
"""


async def _run(
    executor: ExecutorProtocol, host: str, program: str, *args: str, stdin: str | None = None
) -> str:
    result = await executor.run(host, Script(program, args), capture=True, stdin=stdin)
    if result.error is not None:
        raise TransferError(result.error, unreachable=result.unreachable)
    if result.exit_status != 0:
        detail = result.stderr.strip().splitlines()
        why = detail[-1] if detail else f"exit status {result.exit_status}"
        raise TransferError(f"host {host!r}: {why}")
    return result.stdout


async def list_folder(
    executor: ExecutorProtocol, host: str, folder: PurePosixPath
) -> dict[str, Entry]:
    """The listing of ``folder`` on ``host`` (empty when it does not exist)."""
    return (await folder_state(executor, host, folder))[0]


async def folder_state(
    executor: ExecutorProtocol, host: str, folder: PurePosixPath
) -> tuple[dict[str, Entry], int | None]:
    """The listing of ``folder`` on ``host``, and the host's clock (nanoseconds) when it
    was listed; ``None`` when the folder does not exist there."""
    text = await _run(executor, host, LIST_PROGRAM, str(folder))
    return parse_listing(text), listed_at(text)


async def checksums(
    executor: ExecutorProtocol,
    host: str,
    folder: PurePosixPath,
    only: Sequence[str] | None = None,
    *,
    live: bool = False,
) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` on ``host`` (or of the files ``only`` names):
    relative path -> hex digest. ``live``: the folder is in use; files that vanish
    meanwhile are left out."""
    if only is None:
        mode = "live" if live else "all"
        return parse_checksums(await _run(executor, host, CHECKSUM_PROGRAM, str(folder), mode))
    if not only:
        return {}
    names = members(only).decode("utf-8", "surrogateescape")
    return parse_checksums(
        await _run(executor, host, CHECKSUM_PROGRAM, str(folder), "listed", stdin=names)
    )


async def remove(
    executor: ExecutorProtocol, host: str, folder: PurePosixPath, paths: Sequence[str]
) -> None:
    """Remove ``paths`` (relative, deepest first) under ``folder`` on ``host``."""
    if paths:
        await _run(executor, host, REMOVE_PROGRAM, str(folder), *(f"./{p}" for p in paths))


async def set_aside(
    executor: ExecutorProtocol, host: str, folder: PurePosixPath, to: PurePosixPath
) -> None:
    """Rename ``folder`` on ``host`` to ``to`` (nothing when it does not exist)."""
    await _run(executor, host, SET_ASIDE_PROGRAM, str(folder), str(to))


def members(paths: Sequence[str]) -> bytes:
    """``paths`` as NUL-separated names that never read as options (``.`` is the folder
    itself), for tar's ``-T -``, rsync's ``--files-from=-`` and ``xargs -0``."""
    return b"".join(("." if p == "." else f"./{p}").encode() + b"\0" for p in paths)


def _check(ends: Sequence[PipeEnd], what: str) -> None:
    for end in ends:
        if not end.ok:
            raise TransferError(f"{what} failed: {end.why()}")


async def push_local(
    executor: ExecutorProtocol,
    host: str,
    local_root: Path,
    folder: PurePosixPath,
    paths: Sequence[str],
) -> int:
    """Send ``paths`` (relative to ``local_root``) into ``folder`` on ``host``; bytes sent.

    The tar stream is written by Python's ``tarfile`` in a worker thread straight
    into the channel: nothing is staged on disk and nothing local but Python is needed.
    """
    receive = Script(RECEIVE_PROGRAM, (str(folder), "login-user"))
    try:
        async with executor.open_pipe(host, receive) as pipe:
            sent = await _write_tar(pipe, local_root, paths)
            await pipe.close_input()
            end = await pipe.finish()
    except HostUnreachableError as exc:
        raise TransferError(f"copy to {host} failed: {exc.message}", unreachable=True) from None
    except FarmError as exc:
        raise TransferError(f"copy to {host} failed: {exc.message}") from None
    _check([end], f"copy to {host}")
    return sent


async def _write_tar(pipe: BytePipe, root: Path, paths: Sequence[str]) -> int:
    loop = asyncio.get_running_loop()
    written = 0

    class ChannelWriter:
        def write(self, data: bytes) -> int:
            nonlocal written
            asyncio.run_coroutine_threadsafe(pipe.write(bytes(data)), loop).result()
            written += len(data)
            return len(data)

    def build() -> None:
        with tarfile.open(
            fileobj=cast(IO[bytes], ChannelWriter()), mode="w|", format=tarfile.PAX_FORMAT
        ) as tar:
            for rel in paths:
                tar.add(root / rel, arcname=rel, recursive=False)

    try:
        await asyncio.to_thread(build)
    except (OSError, ConnectionError) as exc:
        raise TransferError(f"copy to {pipe.host} failed: {exc}") from None
    return written


async def copy_between(
    executor: ExecutorProtocol,
    source_host: str,
    destination_host: str,
    folder: PurePosixPath,
    paths: Sequence[str],
    *,
    source_may_change: bool = False,
) -> int:
    """Copy ``paths`` under ``folder`` from one host to the same folder on another,
    relayed through this process, owners kept; bytes relayed.

    ``source_may_change``: the source is in use (a pre-copy while the stack runs), so
    tar complaining that a file changed or vanished while it read is not a failure;
    the copy made after the stop settles it.
    """
    if not paths:
        return 0
    names = members(paths)
    send = Script(SEND_PROGRAM, (str(folder),))
    receive = Script(RECEIVE_PROGRAM, (str(folder), "owners"))
    what = f"copy of {folder} from {source_host} to {destination_host}"
    try:
        async with (
            executor.open_pipe(source_host, send) as source,
            executor.open_pipe(destination_host, receive) as destination,
        ):
            src_end, dst_end, sent = await relay(source, destination, names)
    except FarmError as exc:
        raise TransferError(f"{what} failed: {exc.message}") from None
    _check([dst_end] if source_may_change else [src_end, dst_end], what)
    return sent
