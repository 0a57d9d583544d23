"""Moving a stack's data folders from its old host to its new one.

The work is arranged so the stack is down only for what changed:

1. ``pre_copy``, while the stack still runs on the old host: copy everything
   (host to host, relayed through cf), then checksum both copies. A file whose
   checksums match, whose size and modification time did not change while it
   was being read, and which was last written more than a second before that
   (so a later write cannot leave its time unchanged: file times tick coarsely)
   is *pre-verified*.
2. The caller stops the stack (``docker compose down``).
3. ``final_copy``: list both sides again; send what differs (sizes and
   modification times to the nanosecond, which GNU tar's POSIX format keeps)
   and every file that is not pre-verified or changed since; remove on the new
   host what was deleted on the old one.
4. ``verify``: both listings must now agree on every path, size and time, and
   the files sent in step 3 must have equal SHA-256 on both hosts. Together
   with step 1, every file's checksum has been compared. Files that differ are
   sent once more, then compared again; a second mismatch is an error.

The old host's data is only ever read. A folder already on the new host is
set aside as ``<folder>.cf-replaced-<time>`` unless it is a copy cf left there
by an earlier move of the same stack (then it is the base of the copy, which
makes a move back quick).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from compose_farm.config import Config
from compose_farm.errors import TransferError
from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.sync import direct
from compose_farm.sync.manifest import (
    NANOSECOND,
    Changes,
    Entry,
    changes,
    count,
    human_bytes,
    totals,
)
from compose_farm.sync.remote import (
    checksums,
    copy_between,
    folder_state,
    list_folder,
    members,
    remove,
    set_aside,
)

REPLACED_SUFFIX = ".cf-replaced-"
SETTLED = 1_000_000_000  # a file untouched this long (ns) before the check can be trusted
# Below this, relaying over cf's open connections beats the new host's SSH login to
# the old one (key added, login, key removed): the small final copy stays relayed.
DIRECT_FROM_BYTES = 16_000_000


@dataclass(frozen=True)
class FolderEstimate:
    """What moving one data folder would copy (for ``--dry-run``)."""

    folder: PurePosixPath
    files: int
    bytes: int
    changes: Changes
    exists: bool = True

    def describe(self) -> str:
        """``/opt/stacks/db/data: 120 files, 52.4 MB (52.4 MB to copy)``."""
        if not self.exists:
            return f"{self.folder}: not on the old host, nothing to copy"
        return (
            f"{self.folder}: {count(self.files, 'file')}, {human_bytes(self.bytes)} "
            f"({human_bytes(self.changes.bytes)} to copy)"
        )


async def estimate(
    executor: ExecutorProtocol, config: Config, stack: str, old: str, new: str, *, reuse: bool
) -> list[FolderEstimate]:
    """For each data folder: its size on ``old`` and what the pre-copy would send."""
    out: list[FolderEstimate] = []
    for folder in config.stacks[stack].data:
        (source, listed), target = await asyncio.gather(
            folder_state(executor, old, folder), list_folder(executor, new, folder)
        )
        base = target if reuse else {}
        files, size = totals(source)
        todo = changes(source, base, delete=True, precision=NANOSECOND)
        out.append(FolderEstimate(folder, files, size, todo, listed is not None))
    return out


@dataclass
class _Folder:
    """One data folder's progress through a move."""

    path: PurePosixPath
    exists: bool = True
    listed: Mapping[str, Entry] | None = None  # the old host's listing the pre-check trusts
    verified: frozenset[str] = frozenset()  # files whose checksums matched while running
    sent: tuple[str, ...] = ()  # files sent after the stop


class DataMove:
    """One stack's data, on its way from ``old`` to ``new``."""

    def __init__(
        self,
        executor: ExecutorProtocol,
        config: Config,
        stack: str,
        old: str,
        new: str,
        *,
        reuse: bool,
        say: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.executor = executor
        self.folders = [_Folder(f) for f in config.stacks[stack].data]
        self.old = old
        self.new = new
        self.reuse = reuse
        self.say = say
        self.warn = warn
        self.copied = 0
        # host to host until the new host turns out not to reach the old one
        self.direct: bool | None = None if config.sync.host_to_host else False

    async def pre_copy(self) -> None:
        """Step 1, while the stack runs on the old host: copy all, then pre-verify."""
        for folder in self.folders:
            _, listed = await folder_state(self.executor, self.old, folder.path)
            folder.exists = listed is not None
            if not folder.exists:
                self.say(f"{folder.path}: not on {self.old}, nothing to copy")
                continue
            if not self.reuse:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                aside = PurePosixPath(f"{folder.path}{REPLACED_SUFFIX}{stamp}")
                await set_aside(self.executor, self.new, folder.path, aside)
            await self._copy(folder, live=True)
            before, now = await folder_state(self.executor, self.old, folder.path)
            here, there = await asyncio.gather(
                checksums(self.executor, self.old, folder.path, live=True),
                checksums(self.executor, self.new, folder.path),
            )
            after = await list_folder(self.executor, self.old, folder.path)
            settled = (now or 0) - SETTLED
            steady = {p for p, e in after.items() if before.get(p) == e and e.mtime < settled}
            folder.listed = after
            folder.verified = frozenset(
                p for p, digest in here.items() if p in steady and there.get(p) == digest
            )

    async def final_copy(self) -> None:
        """Step 3, after the stop: what changed, and what the pre-check could not vouch for."""
        for folder in self.folders:
            if folder.exists:
                await self._copy(folder, live=False)

    async def _copy(self, folder: _Folder, *, live: bool) -> None:
        source, target = await asyncio.gather(
            list_folder(self.executor, self.old, folder.path),
            list_folder(self.executor, self.new, folder.path),
        )
        todo = changes(source, target, delete=True, precision=NANOSECOND)
        send = list(todo.send)
        if not live:
            trusted = folder.listed or {}
            doubtful = [
                p
                for p, e in source.items()
                if e.kind == "f" and (p not in folder.verified or trusted.get(p) != e)
            ]
            send = sorted(set(send) | set(doubtful))
            folder.sent = tuple(p for p in send if source[p].kind == "f")
        # The folder itself first, so its owner and mode travel too.
        wanted = [".", *send] if send or not target else send
        started = time.monotonic()
        await remove(self.executor, self.new, folder.path, todo.delete)
        done = Changes(tuple(send), todo.delete, sum(source[p].size for p in send if p in source))
        how = await self._transfer(folder.path, wanted, done.bytes, live=live)
        took = time.monotonic() - started
        when = "while it runs" if live else "after the stop"
        self.copied += done.bytes
        self.say(f"{folder.path}: {done.summary(done=True)} {when}, {how} ({took:.1f} s)")

    async def _transfer(
        self, folder: PurePosixPath, paths: Sequence[str], size: int, *, live: bool
    ) -> str:
        """Copy ``paths`` (``size`` bytes of files): host to host when that is worth a login
        and the new host reaches the old one, else relayed through cf. How it went."""
        if not paths:
            return "nothing to copy"
        if self.direct is not False and size >= DIRECT_FROM_BYTES:
            try:
                tool = await direct.pull(
                    self.executor,
                    self.old,
                    self.new,
                    folder,
                    members(paths),
                    live=live,
                    warn=self.warn,
                )
                self.direct = True
                return f"host to host with {tool}"
            except direct.Unreachable as exc:
                self.direct = False
                why = f" ({exc})" if str(exc) else ""
                self.say(f"{self.new} cannot reach {self.old} over SSH{why}; relaying through cf")
        await copy_between(self.executor, self.old, self.new, folder, paths, source_may_change=live)
        return "relayed through cf"

    async def verify(self) -> None:
        """Step 4: listings agree everywhere; files sent after the stop have equal SHA-256.
        Differences are sent once more and compared again, then ``TransferError``."""
        for folder in self.folders:
            if not folder.exists:
                continue
            total, wrong = await self._compare(folder)
            if wrong:
                self.say(f"{folder.path}: {count(len(wrong), 'file')} did not match; copying again")
                await self._resend(folder, wrong)
                total, wrong = await self._compare(folder)
            if wrong:
                shown = ", ".join(wrong[:5]) + (
                    f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
                )
                raise TransferError(
                    f"the copy of {folder.path} on {self.new} does not match {self.old} "
                    f"(differing: {shown})"
                )
            checked = len(folder.sent)
            self.say(
                f"{folder.path}: verified on {self.new}: {count(total, 'file')} "
                f"({checked} checksummed after the stop, the rest while running)"
            )

    async def _compare(self, folder: _Folder) -> tuple[int, list[str]]:
        """The number of files, and the paths that differ between the two hosts."""
        source, target = await asyncio.gather(
            list_folder(self.executor, self.old, folder.path),
            list_folder(self.executor, self.new, folder.path),
        )
        wrong = {p for p in set(source) | set(target) if source.get(p) != target.get(p)}
        wrong = {
            p
            for p in wrong
            if not (source.get(p) and source[p].kind == "d" == target.get(p, source[p]).kind)
        }
        here, there = await asyncio.gather(
            checksums(self.executor, self.old, folder.path, folder.sent),
            checksums(self.executor, self.new, folder.path, folder.sent),
        )
        wrong |= {p for p in set(here) | set(there) if here.get(p) != there.get(p)}
        unvouched = [
            p
            for p, e in source.items()
            if e.kind == "f" and p not in folder.verified and p not in folder.sent
        ]
        wrong |= set(unvouched)
        files = sum(1 for e in source.values() if e.kind == "f")
        return files, sorted(wrong)

    async def _resend(self, folder: _Folder, paths: Sequence[str]) -> None:
        source = await list_folder(self.executor, self.old, folder.path)
        await remove(self.executor, self.new, folder.path, [p for p in paths if p not in source])
        again = [p for p in paths if p in source]
        await self._transfer(folder.path, again, sum(source[p].size for p in again), live=False)
        folder.sent = tuple(sorted(set(folder.sent) | {p for p in again if source[p].kind == "f"}))


# $1: the data folder, $2: "dry" or "remove", $3: "all" (the folder too) or "aside"
# (only the copies set aside by moves, on the host where the stack runs now).
PRUNE_PROGRAM = r"""
folder=$1 mode=$2
if [ "$3" = all ]; then set -- "$folder" "$folder".cf-replaced-*
else set -- "$folder".cf-replaced-*; fi
for d; do
  [ -e "$d" ] || continue
  echo "$d"
  [ "$mode" = dry ] || rm -rf -- "$d" || exit 1
done
"""


async def prune(
    executor: ExecutorProtocol, host: str, folder: PurePosixPath, *, everything: bool, dry_run: bool
) -> list[str]:
    """Remove the copies of ``folder`` on ``host``: the folder itself (``everything``) and
    the ``.cf-replaced-*`` folders set aside beside it. What was (or would be) removed."""
    script = Script(
        PRUNE_PROGRAM,
        (str(folder), "dry" if dry_run else "remove", "all" if everything else "aside"),
    )
    result = await executor.run(host, script, capture=True)
    if not result.ok:
        why = result.error or result.stderr.strip() or f"exit status {result.exit_status}"
        raise TransferError(f"pruning {folder} on {host} failed: {why}")
    return [line for line in result.stdout.splitlines() if line]
