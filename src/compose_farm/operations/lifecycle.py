"""Stack lifecycle: up (with migration and rollback), down, stop, restart, pull, update.

Every operation works stack by stack, all stacks at once; one stack failing
never stops the others. State records only what actually happened, written
as each stack finishes, so an interrupted run leaves a truthful state file.

Around the compose commands: the stack folder is synced to the host first when
the stack has sync on, the user's hooks run before and after, and a move of a
stack with data folders copies them (docs/sync-and-data.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compose_farm.config import Config, HookEvent
from compose_farm.errors import TransferError
from compose_farm.executor import (
    Event,
    ExecutorProtocol,
    OutputLine,
    Result,
    Runnable,
    Sink,
    compose,
    notice,
)
from compose_farm.farmlock import FarmGate
from compose_farm.operations.hooks import run_hooks
from compose_farm.operations.preflight import (
    MISSING_EXIT,
    explain,
    parse_missing,
    preflight_script,
    requirements,
)
from compose_farm.sops import SopsError, SopsValues, with_secrets
from compose_farm.state import State, StateStore
from compose_farm.sync.datamove import DataMove, prune
from compose_farm.sync.stackdir import describe, sync_stack

if TYPE_CHECKING:
    from compose_farm.facts import Facts

STACK_CONCURRENCY = 64


@dataclass(frozen=True)
class Outcome:
    """How one stack's operation ended."""

    stack: str
    hosts: tuple[str, ...]
    ok: bool
    message: str = ""
    unreachable: bool = False  # failed only because a host could not be reached


def where(config: Config, state: State, stack: str, only_host: str | None) -> tuple[str, ...]:
    """Hosts ``stack`` is on: the state's when it records any, else its configured hosts;
    with ``only_host``, only that one (when it is one of them)."""
    hosts = state.hosts_of(stack) or config.stacks[stack].hosts
    return hosts if only_host is None else tuple(h for h in hosts if h == only_host)


@dataclass
class _Switch:
    """How far a move's switch got: the old hosts are being stopped, a roll back began."""

    stopping: bool = False
    rolling_back: bool = False


class Operations:
    """Runs lifecycle steps for stacks, reporting output events to ``sink``."""

    def __init__(
        self,
        config: Config,
        executor: ExecutorProtocol,
        store: StateStore,
        sink: Sink,
        environ: Mapping[str, str],
        *,
        prune_data: bool = False,
        after_change: Sequence[Callable[[], Awaitable[None]]] = (),
        who: str = "cf",
    ) -> None:
        """``prune_data``: remove the old host's data copy right after a verified move.
        ``after_change``: run when the state may say something new (Traefik's file).
        ``who``: the command, as the farm lock names its holder."""
        self.config = config
        self.executor = executor
        self.store = store
        self.sink = sink
        self.environ = environ
        # Stacks' SOPS secrets (sops.py), decrypted here once per command when first needed.
        self.sops = SopsValues(config, environ)
        self.after_change = tuple(after_change)
        self.prune_data = prune_data
        # Extra words for the `up -d` that starts a stack (`cf up --build --pull always`).
        self.up_flags: tuple[str, ...] = ()
        # Every step that changes hosts or state holds the farm lock (see ``exclusive``).
        self.gate = FarmGate(config.farm_lock_path, lambda text: sink(notice(text)), who)
        # (stack, host) folders synced in this run: `update` syncs before its pull, and the
        # `up` after it need not list the host's copy again. One Operations per command.
        self._synced: set[tuple[str, str]] = set()

    # ------------------------------------------------------------ helpers

    def exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the farm lock for the block: no other command changes the farm meanwhile
        (re-entrant within this command)."""
        return self.gate.held()

    def info(self, stack: str, host: str, text: str) -> None:
        """A line of our own (not the command's) in the output stream."""
        self.sink(OutputLine(host=host, stack=stack, stream="info", line=text))

    async def compose(self, stack: str, host: str, *args: str) -> Result:
        """``docker compose ARGS`` for ``stack`` on ``host``, output streamed."""
        return await self.run_compose(
            stack, host, compose(self.config.stack_dir(stack), *args), self.sink
        )

    async def run_compose(self, stack: str, host: str, command: Runnable, sink: Sink) -> Result:
        """``command`` (compose, or a script ending in it) for ``stack`` on ``host``; a stack
        with SOPS secrets gets them in its environment over stdin, or, when they cannot
        be decrypted, the command does not run."""
        try:
            values = self.sops.of(stack)
        except SopsError as exc:
            self.info(stack, host, exc.message)
            return Result(host, stack, 1, error=exc.message)
        if not values:
            return await self.executor.run(host, command, stack=stack, sink=sink)
        wrapped = with_secrets(command, values, watch=not self.executor.is_local(host))
        return await self.executor.run(
            host, wrapped.script, stack=stack, sink=sink, stdin=wrapped.stdin
        )

    def secrets_problem(self, stack: str, host: str) -> Result | None:
        """A failed result when ``stack``'s SOPS secrets cannot be decrypted, else ``None``."""
        try:
            self.sops.of(stack)
        except SopsError as exc:
            self.info(stack, host, exc.message)
            return Result(host, stack, 1, error=exc.message)
        return None

    def where(self, stack: str, only_host: str | None) -> tuple[str, ...]:
        """Hosts a stack is on: state when recorded, else its configured hosts."""
        return where(self.config, self.store.read(), stack, only_host)

    async def for_each(
        self,
        stacks: Sequence[str],
        action: Callable[[str], Awaitable[Outcome]],
        *,
        changes_placement: bool = False,
        exclusive: bool = True,
    ) -> list[Outcome]:
        """Run ``action`` for every stack concurrently (bounded), in order of ``stacks``,
        holding the farm lock (unless not ``exclusive``: logs, a passthrough).

        With ``changes_placement`` (up, down), the ``after_change`` hooks run at
        the end (the Traefik file is regenerated once, not once per stack).
        """
        gate = asyncio.Semaphore(STACK_CONCURRENCY)

        async def one(stack: str) -> Outcome:
            async with gate:
                return await action(stack)

        async with self.exclusive() if exclusive else contextlib.nullcontext():
            outcomes = list(await asyncio.gather(*(one(s) for s in stacks)))
            if changes_placement:
                await self.changed()
        return outcomes

    async def changed(self) -> None:
        """Run the ``after_change`` hooks: the state may say something new."""
        for hook in self.after_change:
            await hook()

    def record(self, stack: str, hosts: Sequence[str]) -> None:
        """Write the stack's hosts to state (under the lock, atomically)."""
        self.store.update(stack, tuple(hosts))

    async def _on_hosts(
        self, stack: str, hosts: Sequence[str], run: Callable[[str], Awaitable[Result]]
    ) -> dict[str, Result]:
        results = await asyncio.gather(*(run(h) for h in hosts))
        return dict(zip(hosts, results, strict=True))

    async def sync_folder(self, stack: str, host: str) -> Result | None:
        """Copy the stack folder to ``host`` when the stack has sync on; a failed
        ``Result`` when that failed, else ``None``."""
        if not self.config.stacks[stack].sync or (stack, host) in self._synced:
            return None
        try:
            done = await sync_stack(self.executor, self.config, stack, host)
        except TransferError as exc:
            message = f"sync of {stack} to {host} failed: {exc.message}"
            self.info(stack, host, message)
            return Result(host, stack, 1, error=message, unreachable=exc.unreachable)
        self._synced.add((stack, host))
        if done.changes:
            self.info(stack, host, describe(done))
        return None

    async def hooks(
        self, event: HookEvent, stack: str, host: str, old_host: str | None = None
    ) -> Result | None:
        """The stack's ``event`` hooks; a failed ``Result`` naming the hook, else ``None``."""
        problem = await run_hooks(
            self.executor, self.config, event, stack, host, self.sink, old_host=old_host
        )
        if problem is None:
            return None
        self.info(stack, host, problem)
        return Result(host, stack, 1, error=problem)

    # ------------------------------------------------------------ up

    async def up(
        self, stacks: Sequence[str], *, only_host: str | None = None, services: Sequence[str] = ()
    ) -> list[Outcome]:
        """Start stacks where the config says; migrate single-host stacks that moved."""
        return await self.for_each(
            stacks, lambda s: self._up_one(s, only_host, services), changes_placement=True
        )

    async def _up_one(self, stack: str, only_host: str | None, services: Sequence[str]) -> Outcome:
        cfg = self.config.stacks[stack]
        targets = cfg.hosts if only_host is None else tuple(h for h in cfg.hosts if h == only_host)
        if not targets:
            return Outcome(stack, (), False, f"{stack} is not configured for host {only_host}")
        # `cf up` ends a pause (`cf down`, `cf stop`) where it starts the stack, even if
        # the start fails: what the user asks for now is a running stack
        if self.store.read().paused_on(stack):
            self.store.modify(
                lambda state: state.resumed(stack, None if not cfg.multi_host else targets)
            )
        recorded = self.store.read().hosts_of(stack)
        if not cfg.multi_host:
            target = targets[0]
            old = [h for h in recorded if h != target]
            if old:
                return await self.migrate(stack, old, target, services)
        return await self.start_on(stack, targets, services)

    async def _preflight(self, stack: str, host: str) -> Result | None:
        """``None`` when ``host`` has what ``stack`` needs, else a failed result saying
        why (``unreachable`` when the host could not be asked)."""
        needs = requirements(self.config, stack, self.sops.environ_of(stack))
        if needs.error is not None:
            return Result(host, stack, 1, error=f"Compose would refuse it: {needs.error}")
        script = preflight_script(self.config.stack_dir(stack), needs)
        result = await self.executor.run(host, script, stack=stack, capture=True)
        if result.error is not None:
            return result
        missing = parse_missing(result.stdout)
        why = None
        if missing:
            why = explain(stack, host, missing)
        elif result.exit_status != 0:
            why = f"preflight check failed on {host}: {result.stderr.strip()}"
        if why is None:
            return None
        return Result(host, stack, result.exit_status or 1, error=why)

    async def start_on(self, stack: str, hosts: Sequence[str], services: Sequence[str]) -> Outcome:
        """Preflight and ``up -d`` on each host, as one command per host (one round trip)."""
        needs = requirements(self.config, stack, self.sops.environ_of(stack))

        async def start(host: str) -> Result:
            secrets = self.secrets_problem(stack, host)
            if secrets is not None:  # nothing runs on the host
                return secrets
            if needs.error is not None:  # before anything touches the host
                problem = f"Compose would refuse it: {needs.error}"
                self.info(stack, host, problem)
                return Result(host, stack, 1, error=problem)
            failed = await self.sync_folder(stack, host) or await self.hooks(
                "before_up", stack, host
            )
            if failed is not None:
                return failed
            script = preflight_script(
                self.config.stack_dir(stack),
                needs,
                ("docker", "compose", "up", "-d", *self.up_flags, *services),
            )
            report: list[str] = []
            result = await self.run_compose(stack, host, script, _without_report(self.sink, report))
            missing = parse_missing("\n".join(report))
            if result.exit_status == MISSING_EXIT and missing:
                problem = explain(stack, host, missing)
                self.info(stack, host, problem)
                return Result(host, stack, 1, error=problem)
            if result.ok:
                after_failed[host] = await self.hooks("after_up", stack, host)
            return result

        after_failed: dict[str, Result | None] = {}
        results = await self._on_hosts(stack, hosts, start)
        started = [h for h, r in results.items() if r.ok]
        if started:
            multi = self.config.stacks[stack].multi_host
            self.store.modify(
                lambda state: state.with_hosts(
                    stack, [*state.hosts_of(stack), *started] if multi else started
                )
            )
        failed = {h: r for h, r in results.items() if not r.ok}
        if failed:
            return Outcome(
                stack,
                tuple(started),
                False,
                _failure_text("up", failed),
                unreachable=all(r.unreachable for r in failed.values()),
            )
        hook_failures = {h: r for h, r in after_failed.items() if r is not None}
        if hook_failures:
            return Outcome(stack, tuple(started), False, _failure_text("up", hook_failures))
        return Outcome(stack, tuple(started), True)

    # ------------------------------------------------------------ migrate

    async def migrate(
        self, stack: str, old: str | Sequence[str], new: str, services: Sequence[str] = ()
    ) -> Outcome:
        """Move a stack from ``old`` (one host or several) to ``new``.

        Sync to ``new``, ``before_migrate`` hooks, preflight and pull on ``new``,
        a first copy of the data folders while the stack still runs, then
        ``down`` on every old host, the final data copy and its verification,
        ``up`` on ``new``, ``after_migrate`` hooks. If anything fails before the
        stack runs on ``new``, it is brought back up where it was and the state
        keeps saying so; the old host's data is only ever read.
        """
        olds = (old,) if isinstance(old, str) else tuple(old)
        was = ", ".join(olds)
        self.info(stack, new, f"migrating {stack}: {was} -> {new}")

        async def not_moved(why: str, unreachable: bool = False) -> Outcome:
            return Outcome(stack, olds, False, f"not moved, still on {was}: {why}", unreachable)

        # The folder first, so a hook on the new host runs in it.
        early = (
            self.secrets_problem(stack, new)
            or await self.sync_folder(stack, new)
            or await self.hooks("before_migrate", stack, new, was)
        )
        if early is not None:
            return await not_moved(early.error or "", early.unreachable)
        problem = await self._preflight(stack, new)
        if problem is not None:
            return await not_moved(problem.error or "", problem.unreachable)
        pulled = await self.compose(stack, new, "pull", "--ignore-buildable")
        if not pulled.ok:
            why = pulled.error or f"pull exited {pulled.exit_status}"
            return await not_moved(f"pull on {new}: {why}", pulled.unreachable)
        move = self._data_move(stack, olds[0], new)
        if move is not None:
            try:
                await move.pre_copy()
            except TransferError as exc:
                self.info(stack, new, f"data copy failed: {exc.message}")
                return await not_moved(f"data copy failed: {exc.message}", exc.unreachable)
        # From here the stack stops on the old hosts: whatever ends the move before it
        # runs on the new one (a failure, Ctrl-C) brings it back up where it was.
        switch = _Switch()
        try:
            failed_move = await self._switch(stack, olds, new, move, services, switch)
        except asyncio.CancelledError:
            if switch.stopping and not switch.rolling_back:
                await asyncio.shield(self._roll_back(stack, olds, new, "interrupted"))
            raise
        if failed_move is not None:
            return failed_move
        self.record(stack, [new])
        moved = f"moved {was} -> {new}"
        if move is not None:
            moved += await self._after_data_move(stack, olds, new)
        after = await self.hooks("after_migrate", stack, new, was)
        if after is not None:
            return Outcome(stack, (new,), False, f"{moved}, but {after.error}")
        return Outcome(stack, (new,), True, moved)

    async def _switch(
        self,
        stack: str,
        olds: tuple[str, ...],
        new: str,
        move: DataMove | None,
        services: Sequence[str],
        switch: _Switch,
    ) -> Outcome | None:
        """``down`` on the old hosts, the final data copy, ``up`` on the new host: ``None``
        once it runs there, else how it ended (rolled back where it could be)."""
        was = ", ".join(olds)
        switch.stopping = True
        stopped = await self._on_hosts(stack, olds, lambda h: self.compose(stack, h, "down"))
        failed = {h: r for h, r in stopped.items() if not r.ok}
        if failed:
            # Still running (or unknown) where down failed: never start a second copy.
            # Where down worked, bring it back up so nothing is left stopped.
            switch.rolling_back = True
            why = _failure_text("down", failed)
            done = tuple(h for h in olds if h not in failed)
            restored = await self._on_hosts(
                stack, done, lambda h: self.compose(stack, h, "up", "-d")
            )
            back = [h for h, r in restored.items() if r.ok]
            runs = tuple(h for h in olds if h in failed or h in back)
            self.record(stack, runs)
            left = [h for h in done if h not in back]
            message = f"not moved: could not stop it on {was} ({why})"
            if left:
                message += (
                    f"; restarting on {', '.join(left)} failed, so it is stopped there: "
                    f"run `cf up {stack}` once the cause is fixed"
                )
            return Outcome(
                stack,
                runs,
                False,
                message,
                unreachable=all(r.unreachable for r in failed.values()) and not left,
            )
        if move is not None:
            try:
                await move.final_copy()
                await move.verify()
            except TransferError as exc:
                self.record(stack, [])
                switch.rolling_back = True
                return await self._roll_back(stack, olds, new, f"data copy failed ({exc.message})")
        self.record(stack, [])
        started = await self.compose(stack, new, "up", "-d", *self.up_flags, *services)
        if not started.ok:
            why = started.error or f"up exited {started.exit_status}"
            switch.rolling_back = True
            return await self._roll_back(stack, olds, new, f"up on {new} failed ({why})")
        return None

    def _data_move(self, stack: str, old: str, new: str) -> DataMove | None:
        if not self.config.stacks[stack].data:
            return None
        reuse = new in self.store.read().data_left_on(stack)
        return DataMove(
            self.executor,
            self.config,
            stack,
            old,
            new,
            reuse=reuse,
            say=lambda text: self.info(stack, new, text),
            warn=lambda text: self.sink(
                OutputLine(host=old, stack=stack, stream="stderr", line=text)
            ),
        )

    async def _after_data_move(self, stack: str, olds: Sequence[str], new: str) -> str:
        """Record (or, with ``prune_data``, remove) the data copies left on the old hosts."""
        left = [h for h in olds if h != new]
        self.store.modify(
            lambda state: state.with_data_left(
                stack, [h for h in (*state.data_left_on(stack), *left) if h != new]
            )
        )
        if not self.prune_data:
            return f" (the old data stays on {', '.join(left)} until `cf prune-data {stack}`)"
        pruned = await self.prune_copies(stack, left)
        return f" (old data removed from {', '.join(pruned) or 'no host'})"

    async def prune_copies(
        self, stack: str, hosts: Sequence[str], *, dry_run: bool = False
    ) -> list[str]:
        """Remove ``stack``'s data folders on ``hosts`` where it does not run now, and the
        folders set aside by moves everywhere; the hosts that were cleaned."""
        async with self.exclusive():
            return await self._prune_copies(stack, hosts, dry_run=dry_run)

    async def _prune_copies(self, stack: str, hosts: Sequence[str], *, dry_run: bool) -> list[str]:
        deployed = self.store.read().hosts_of(stack)
        cleaned: list[str] = []
        for host in dict.fromkeys([*hosts, *deployed]):
            everything = host not in deployed
            try:
                for folder in self.config.stacks[stack].data:
                    gone = await prune(
                        self.executor, host, folder, everything=everything, dry_run=dry_run
                    )
                    verb = "would remove" if dry_run else "removed"
                    for path in gone:
                        self.info(stack, host, f"{verb} {path}")
            except TransferError as exc:
                self.info(stack, host, exc.message)
                continue
            if everything:
                cleaned.append(host)
        if not dry_run and cleaned:
            self.store.modify(
                lambda state: state.with_data_left(
                    stack, [h for h in state.data_left_on(stack) if h not in cleaned]
                )
            )
        return cleaned

    async def _roll_back(self, stack: str, olds: tuple[str, ...], new: str, why: str) -> Outcome:
        """Stop what started on ``new``, start ``stack`` on ``olds`` again."""
        was = ", ".join(olds)
        self.info(stack, olds[0], f"{why}; bringing {stack} back up on {was}")
        cleaned = await self.compose(stack, new, "down")
        # Until the old hosts answer, the stack may be up there again: the state says so,
        # so a second interruption never leaves it saying "nowhere".
        self.record(stack, olds)
        restored = await self._on_hosts(stack, olds, lambda h: self.compose(stack, h, "up", "-d"))
        back = [h for h, r in restored.items() if r.ok]
        self.record(stack, back)
        target = f"move to {new}"
        if not cleaned.ok:
            failure = cleaned.error or f"down exited {cleaned.exit_status}"
            why += f"; stopping it on {new} failed ({failure}): what started there may still run"
        if len(back) == len(olds):
            return Outcome(
                stack, tuple(back), False, f"{target} failed: {why}; rolled back, running on {was}"
            )
        return Outcome(
            stack,
            tuple(back),
            False,
            f"{target} failed: {why}, and restarting on {was} failed too: {stack} runs on "
            f"{', '.join(back) or 'no host'}; run `cf up {stack}` once the cause is fixed",
        )

    # ------------------------------------------------------------ the rest

    async def down(
        self, stacks: Sequence[str], *, only_host: str | None = None, services: Sequence[str] = ()
    ) -> list[Outcome]:
        """Stop and remove stacks' containers where they run; forget them in state, and
        record them paused there (``cf apply`` leaves a paused stack down until ``cf up``).
        Downing some services only is neither: the stack stays deployed."""

        async def down_on(stack: str, host: str) -> Result:
            failed = await self.hooks("before_down", stack, host)
            if failed is not None:
                return failed
            result = await self.compose(stack, host, "down", *services)
            if result.ok:
                after = await self.hooks("after_down", stack, host)
                if after is not None:
                    hook_failures[(stack, host)] = after
            return result

        hook_failures: dict[tuple[str, str], Result] = {}

        async def one(stack: str) -> Outcome:
            hosts = self.where(stack, only_host)
            results = await self._on_hosts(stack, hosts, lambda h: down_on(stack, h))
            stopped = {h for h, r in results.items() if r.ok}
            if not services:
                self.store.modify(
                    lambda state: state.with_hosts(
                        stack, [h for h in state.hosts_of(stack) if h not in stopped]
                    ).with_paused(stack, sorted(stopped))
                )
            after = {h: r for (s, h), r in hook_failures.items() if s == stack}
            if after and all(r.ok for r in results.values()):
                return Outcome(stack, tuple(stopped), False, _failure_text("down", after))
            return _outcome(stack, "down", results)

        return await self.for_each(stacks, one, changes_placement=True)

    async def simple(
        self,
        stacks: Sequence[str],
        verb: Sequence[str],
        *,
        only_host: str | None = None,
        services: Sequence[str] = (),
        exclusive: bool = True,
    ) -> list[Outcome]:
        """A compose command that does not change where stacks run (stop, restart, pull;
        not ``exclusive``: one that changes nothing, such as ``logs``)."""

        async def one(stack: str) -> Outcome:
            hosts = self.where(stack, only_host)
            results = await self._on_hosts(
                stack, hosts, lambda h: self.compose(stack, h, *verb, *services)
            )
            return _outcome(stack, " ".join(verb), results)

        return await self.for_each(stacks, one, exclusive=exclusive)

    async def stop(
        self, stacks: Sequence[str], *, only_host: str | None = None, services: Sequence[str] = ()
    ) -> list[Outcome]:
        """``docker compose stop`` where each stack runs; the stack stays deployed and is
        recorded paused on the hosts it stopped on (unless only some services stopped)."""
        outcomes = await self.simple(stacks, ("stop",), only_host=only_host, services=services)
        stopped = {o.stack: o.hosts for o in outcomes if o.hosts} if not services else {}
        if stopped:
            self.store.modify(lambda state: _paused(state, stopped))
        return outcomes

    async def update(
        self,
        stacks: Sequence[str],
        *,
        only_host: str | None = None,
        services: Sequence[str] = (),
        force: bool = False,
    ) -> list[Outcome]:
        """Sync (where on), pull, then up: Compose recreates only containers whose image
        changed. Unless ``force``, a running stack whose every image is the one its
        registry serves for its tag now (``outdated.py``: nothing pulled to find out) is
        skipped, and says so; one that cannot be told is updated. A paused stack (``cf
        down``, ``cf stop``) is left down, and says so, until ``cf up``."""
        async with self.exclusive():
            skipped: list[Outcome] = []
            state = self.store.read()
            for stack in [s for s in stacks if state.paused_on(s)]:
                why = f"skipped: paused on {', '.join(state.paused_on(stack))}; `cf up {stack}`"
                for host in state.paused_on(stack):
                    self.info(stack, host, why)
                skipped.append(Outcome(stack, (), True, why))
            stacks = [s for s in stacks if not state.paused_on(s)]
            before: Facts | None = None  # what ran, with images: the rollback record's "before"
            if not force:
                stacks, current, before = await self._needing_update(stacks, only_host, services)
                skipped += current
            done = await self._update(stacks, only_host, services, before) if stacks else []
            return skipped + done

    async def _needing_update(
        self, stacks: Sequence[str], only_host: str | None, services: Sequence[str]
    ) -> tuple[list[str], list[Outcome], Facts]:
        from compose_farm.facts import gather_facts
        from compose_farm.operations.check import check_drift
        from compose_farm.operations.outdated import Status, check_updates

        hosts = [h for h in self.config.hosts if only_host in (None, h)]
        (checks, images), facts, folders = await asyncio.gather(
            check_updates(self, stacks),
            gather_facts(self.config, self.executor, hosts, drift=True),
            check_drift(self.config, self.executor, hosts),
        )
        edited = {stack for stack, _host in facts.drift()}  # its compose project changed
        edited |= {
            stack
            for (stack, _host), folder in folders.items()
            if isinstance(folder, str) or folder.changed or folder.missing
        }
        relevant = [
            c
            for c in checks
            if only_host in (None, c.host) and (not services or c.service in services)
        ]
        current = {Status.CURRENT, Status.PINNED}
        keep: list[str] = []
        skipped: list[Outcome] = []
        for stack in stacks:
            mine = [c for c in relevant if c.stack == stack]
            if mine and stack not in edited and all(c.status in current for c in mine):
                ran = tuple(dict.fromkeys(c.host for c in mine))
                for host in ran:
                    self.info(stack, host, "skipped: every image is the one its registry serves")
                skipped.append(Outcome(stack, ran, True, "skipped: its images are up to date"))
            else:
                keep.append(stack)
        return keep, skipped, images

    async def _update(
        self,
        stacks: Sequence[str],
        only_host: str | None,
        services: Sequence[str],
        before: Facts | None,
    ) -> list[Outcome]:
        from compose_farm.facts import gather_facts
        from compose_farm.operations.rollback import remember

        if before is None:  # for rollback (`--force` asked no registry, so read it now)
            before = await gather_facts(self.config, self.executor, images=True)
        synced = await self.for_each(stacks, lambda s: self._sync_where(s, only_host))
        unsynced = [o for o in synced if not o.ok]
        stacks = [o.stack for o in synced if o.ok]
        pulled = await self.simple(
            stacks, ("pull", "--ignore-buildable"), only_host=only_host, services=services
        )
        ready = [o.stack for o in pulled if o.ok]
        failed = [o for o in pulled if not o.ok]
        building = [s for s in ready if self._builds(s)]
        if building:  # rebuilt on their hosts, base images pulled afresh
            built = await self.simple(
                building, ("build", "--pull"), only_host=only_host, services=services
            )
            failed += [o for o in built if not o.ok]
            ready = [s for s in ready if s not in {o.stack for o in built if not o.ok}]
        started = await self.up(ready, only_host=only_host, services=services) if ready else []
        await remember(self, before, ready)
        return unsynced + failed + started

    def _builds(self, stack: str) -> bool:
        """Whether a service of ``stack`` has ``build:`` (as read here; a project that
        cannot be read here is built anyway: Compose skips what has nothing to build)."""
        from compose_farm.compose import load_compose
        from compose_farm.errors import ComposeFileError

        try:
            project = load_compose(
                Path(str(self.config.compose_dir)), stack, self.sops.environ_of(stack)
            )
        except (ComposeFileError, OSError):
            return True
        services = project.document.get("services") or {}
        return any(isinstance(s, dict) and "build" in s for s in services.values())

    async def _sync_where(self, stack: str, only_host: str | None) -> Outcome:
        """Sync the stack folder to the hosts it is on (or will be), before a pull."""
        hosts = [h for h in self.config.stacks[stack].hosts if only_host in (None, h)]
        results = await self._on_hosts(
            stack, hosts, lambda h: _as_result(stack, h, self.sync_folder(stack, h))
        )
        return _outcome(stack, "sync", results)


async def _as_result(stack: str, host: str, failure: Awaitable[Result | None]) -> Result:
    return await failure or Result(host, stack, 0)


def _without_report(sink: Sink, report: list[str]) -> Sink:
    """Keep the preflight's own lines (``stack ...``, ``missing ...``) out of the output."""

    def forward(event: Event) -> None:
        if isinstance(event, OutputLine) and event.stream == "stdout":
            word = event.line.split(" ", 1)[0]
            if word in ("stack", "missing"):
                report.append(event.line)
                return
        sink(event)

    return forward


def _failure_text(verb: str, failed: Mapping[str, Result]) -> str:
    parts = []
    for host, result in failed.items():
        why = result.error or f"exit status {result.exit_status}"
        parts.append(f"{verb} on {host}: {why}")
    return "; ".join(parts)


def _paused(state: State, stopped: Mapping[str, tuple[str, ...]]) -> State:
    """``state`` with each stack also paused on the hosts it stopped on."""
    for stack, hosts in stopped.items():
        state = state.with_paused(stack, hosts)
    return state


def _outcome(stack: str, verb: str, results: Mapping[str, Result]) -> Outcome:
    ok_hosts = tuple(h for h, r in results.items() if r.ok)
    failed = {h: r for h, r in results.items() if not r.ok}
    if not results:
        return Outcome(stack, (), True, "not deployed anywhere; nothing to do")
    if failed:
        return Outcome(
            stack,
            ok_hosts,
            False,
            _failure_text(verb, failed),
            unreachable=all(r.unreachable for r in failed.values()),
        )
    return Outcome(stack, ok_hosts, True)
