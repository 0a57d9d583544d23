"""Sync a stack's folder from this machine to a host: compare listings, send the difference.

Two round trips on the host's connection when something changed (list, then
receive a tar stream of just the changed files), one when nothing did. Files
only on the host stay unless ``delete``; excluded paths and the stack's data
folders are never sent or deleted, nor is a ``.cf-backup`` folder (the
editors' old versions of ``.env`` files, as older versions kept them there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compose_farm.backups import LEGACY_FOLDER
from compose_farm.config import Config
from compose_farm.errors import TransferError
from compose_farm.executor import ExecutorProtocol
from compose_farm.sync.manifest import Changes, Drift, changes, drift, local_listing
from compose_farm.sync.remote import list_folder, push_local, remove


@dataclass(frozen=True)
class SyncResult:
    """What a sync of one stack to one host did (or, dry, would do)."""

    stack: str
    host: str
    changes: Changes
    sent_bytes: int = 0


def local_stack_dir(config: Config, stack: str) -> Path:
    """The stack's folder on this machine (the same path as on the hosts)."""
    return Path(str(config.stack_dir(stack)))


def exclusions(config: Config, stack: str) -> list[str]:
    """The farm's ``sync.exclude``, any ``.cf-backup`` folder (old passwords never leave
    this machine), and the stack's data folders inside its folder."""
    folder = config.stack_dir(stack)
    patterns = [*config.sync.exclude, LEGACY_FOLDER]
    for data in config.stacks[stack].data:
        if data.is_relative_to(folder) and data != folder:
            patterns.append(data.relative_to(folder).as_posix())
    return patterns


def _local_or_fail(config: Config, stack: str) -> Path:
    root = local_stack_dir(config, stack)
    if not root.is_dir():
        raise TransferError(
            f"stack {stack!r}: no folder {root} on this machine to sync from",
            hint="sync copies compose_dir/<stack> from the machine running cf; "
            f"create it, or set `sync: false` for {stack}",
        )
    return root


async def plan_sync(
    executor: ExecutorProtocol, config: Config, stack: str, host: str, *, delete: bool | None = None
) -> Changes:
    """What a sync of ``stack`` to ``host`` would send and delete."""
    root = _local_or_fail(config, stack)
    patterns = exclusions(config, stack)
    remote = await list_folder(executor, host, config.stack_dir(stack))
    mine = local_listing(root, patterns)
    wipe = config.sync.delete if delete is None else delete
    return changes(mine, remote, delete=wipe, exclude=patterns)


async def sync_stack(
    executor: ExecutorProtocol,
    config: Config,
    stack: str,
    host: str,
    *,
    delete: bool | None = None,
    dry_run: bool = False,
) -> SyncResult:
    """Make ``host``'s copy of the stack folder match this machine's."""
    todo = await plan_sync(executor, config, stack, host, delete=delete)
    if dry_run or not todo:
        return SyncResult(stack, host, todo)
    folder = config.stack_dir(stack)
    await remove(executor, host, folder, todo.delete)
    sent = await push_local(executor, host, local_stack_dir(config, stack), folder, todo.send)
    return SyncResult(stack, host, todo, sent)


async def stack_drift(executor: ExecutorProtocol, config: Config, stack: str, host: str) -> Drift:
    """How ``host``'s copy of the stack folder differs from this machine's."""
    root = _local_or_fail(config, stack)
    patterns = exclusions(config, stack)
    remote = await list_folder(executor, host, config.stack_dir(stack))
    return drift(local_listing(root, patterns), remote, patterns)


def describe(result: SyncResult, *, dry_run: bool = False) -> str:
    """One line for the output: ``synced to h2: 2 paths (1.3 kB) sent``."""
    if not result.changes:
        return f"{result.stack} folder on {result.host} is up to date"
    if dry_run:
        return f"would sync {result.stack} folder to {result.host}: {result.changes.summary()}"
    return f"synced {result.stack} folder to {result.host}: {result.changes.summary(done=True)}"
