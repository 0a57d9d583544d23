"""Moving a stack's data folders from its old host to its new one.

The copy happens in two passes around the stop, so the stack is down only for
the second: ``pre_copy`` while it still runs on the old host, ``final_copy``
after ``docker compose down`` there (only what changed since, plus removal of
what was deleted since), then ``verify`` compares the file count and every
file's SHA-256 on both hosts. The old host's data is only ever read.

A folder already on the new host is set aside as ``<folder>.cf-replaced-<time>``
unless it is a copy cf left there itself by an earlier move of the same stack
(then it is the base of the copy, which makes a move back quick).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from compose_farm.config import Config
from compose_farm.errors import TransferError
from compose_farm.executor import Executor, Script
from compose_farm.sync.manifest import Changes, changes, count, human_bytes, totals
from compose_farm.sync.remote import checksums, copy_between, list_folder, remove, set_aside

REPLACED_SUFFIX = ".cf-replaced-"


@dataclass(frozen=True)
class FolderEstimate:
    """What moving one data folder would copy (for ``--dry-run``)."""

    folder: PurePosixPath
    files: int
    bytes: int
    changes: Changes

    def describe(self) -> str:
        """``/opt/stacks/db/data: 120 files, 52.4 MB (52.4 MB to copy)``."""
        return (
            f"{self.folder}: {count(self.files, 'file')}, {human_bytes(self.bytes)} "
            f"({human_bytes(self.changes.bytes)} to copy)"
        )


async def estimate(
    executor: Executor, config: Config, stack: str, old: str, new: str, *, reuse: bool
) -> list[FolderEstimate]:
    """For each data folder: its size on ``old`` and what the pre-copy would send."""
    out: list[FolderEstimate] = []
    for folder in config.stacks[stack].data:
        source, target = await asyncio.gather(
            list_folder(executor, old, folder), list_folder(executor, new, folder)
        )
        base = target if reuse else {}
        files, size = totals(source)
        out.append(FolderEstimate(folder, files, size, changes(source, base, delete=True)))
    return out


class DataMove:
    """One stack's data, on its way from ``old`` to ``new``."""

    def __init__(
        self,
        executor: Executor,
        config: Config,
        stack: str,
        old: str,
        new: str,
        *,
        reuse: bool,
        say: Callable[[str], None],
    ) -> None:
        self.executor = executor
        self.folders = config.stacks[stack].data
        self.old = old
        self.new = new
        self.reuse = reuse
        self.say = say
        self.copied = 0

    async def pre_copy(self) -> None:
        """First pass, while the stack runs on the old host."""
        if not self.reuse:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for folder in self.folders:
                aside = PurePosixPath(f"{folder}{REPLACED_SUFFIX}{stamp}")
                await set_aside(self.executor, self.new, folder, aside)
        for folder in self.folders:
            await self._copy(folder, live=True)

    async def final_copy(self) -> None:
        """Second pass, after the stop: only what changed since the first."""
        for folder in self.folders:
            await self._copy(folder, live=False)

    async def _copy(self, folder: PurePosixPath, *, live: bool) -> None:
        source, target = await asyncio.gather(
            list_folder(self.executor, self.old, folder),
            list_folder(self.executor, self.new, folder),
        )
        todo = changes(source, target, delete=True)
        # The folder itself first, so its owner and mode travel too.
        send = (".", *todo.send) if todo.send or not target else todo.send
        started = time.monotonic()
        await remove(self.executor, self.new, folder, todo.delete)
        sent = await copy_between(
            self.executor, self.old, self.new, folder, send, source_may_change=live
        )
        self.copied += sent
        took = time.monotonic() - started
        when = "while it runs" if live else "after the stop"
        self.say(f"{folder}: {todo.summary(done=True)} {when} ({took:.1f} s)")

    async def verify(self) -> None:
        """File count and SHA-256 of every file equal on both hosts, else ``TransferError``.

        The copies compare sizes and whole-second modification times, so a file
        rewritten at the same size within the second of the first copy can slip
        through: files that differ are copied once more (the stack is stopped, the
        old host's data cannot change now), then everything is compared again.
        """
        for folder in self.folders:
            here, wrong = await self._compare(folder)
            if wrong:
                self.say(f"{folder}: {count(len(wrong), 'file')} differ; copying them again")
                await remove(self.executor, self.new, folder, [p for p in wrong if p not in here])
                again = [p for p in wrong if p in here]
                await copy_between(self.executor, self.old, self.new, folder, again)
                here, wrong = await self._compare(folder)
            if wrong:
                shown = ", ".join(wrong[:5]) + (
                    f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
                )
                raise TransferError(
                    f"the copy of {folder} on {self.new} does not match {self.old} "
                    f"(differing: {shown})"
                )
            self.say(f"{folder}: verified, {count(len(here), 'file')} match on {self.new}")

    async def _compare(self, folder: PurePosixPath) -> tuple[dict[str, str], list[str]]:
        """The old host's checksums, and the files whose checksum differs (or that exist
        on one side only)."""
        here, there = await asyncio.gather(
            checksums(self.executor, self.old, folder),
            checksums(self.executor, self.new, folder),
        )
        return here, sorted(p for p in set(here) | set(there) if here.get(p) != there.get(p))


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
    executor: Executor, host: str, folder: PurePosixPath, *, everything: bool, dry_run: bool
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
