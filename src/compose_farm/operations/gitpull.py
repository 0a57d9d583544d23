"""``pull-config``: bring the farm to the newest commit of its git branch. The one workflow
``cf pull-config`` and ``cf web`` (webhook, polling, the Apply commit button) call.

1. ``incoming``: fetch (``gitsource.Checkout.fetch``), then read the new commit's
   config from git and list what it changed; the checkout is not touched.
2. ``pull`` (on ``Operations`` built over that config): under the farm lock, the
   plan of the new config against what runs now (``apply.preview``), shown; on a dry
   run, or a commit already applied, that is all. Then the checkout is
   fast-forwarded to the commit and ``apply`` runs on what is now checked out (its
   own plan, drift from the new compose files included, shown again).
3. The commit counts as applied when every step succeeded and nothing was held back
   (no unreachable host). Then the state file records it. Otherwise the checkout's
   branch goes back to the commit it was on: a checkout never shows a commit cf did
   not apply. Steps that succeeded are not undone (a stack that moved stays where it
   runs now, and the state file says so); ``cf apply`` brings the hosts back to the
   checked-out config, a fixed commit pushed after brings them forward.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from compose_farm.config import Config
from compose_farm.executor import notice
from compose_farm.gitsource import Checkout, Commit, GitError, open_checkout
from compose_farm.operations.apply import Applied, Preview, apply, preview
from compose_farm.operations.lifecycle import Operations
from compose_farm.state import StateStore


@dataclass(frozen=True)
class Incoming:
    """The branch's tip against the checkout, before anything moves."""

    checkout: Checkout
    head: Commit  # checked out now
    recorded: str | None  # the commit the state file says cf applied last
    commit: Commit  # the branch's tip (fetched)
    stacks: tuple[str, ...]  # stack folders the commit changes (from the checkout's)
    other_files: bool  # files outside the stack folders changed
    config_changed: bool
    config: Config  # the config as the commit has it
    refusal: str | None  # why the checkout cannot move to it now

    @property
    def pending(self) -> bool:
        """The tip is not the commit cf applied last."""
        return self.commit.sha != self.head.sha or self.recorded != self.commit.sha

    def lines(self) -> list[str]:
        """What the CLI and the web show above the plan."""
        found = [f"commit {self.commit.line()}"]
        if self.commit.sha != self.head.sha:
            found.append(f"checked out: {self.head.line()}")
        if self.stacks:
            found.append(f"stacks changed: {', '.join(self.stacks)}")
        if self.config_changed:
            found.append(f"config changed: {self.checkout.config_file}")
        if not self.pending:
            found.append("already applied: the checkout and the state file are at this commit")
        return found

    def public(self) -> dict[str, object]:
        """For ``--json`` and the web."""
        return {
            "commit": self.commit.public(),
            "head": self.head.public(),
            "recorded": self.recorded,
            "pending": self.pending,
            "stacks_changed": list(self.stacks),
            "config_changed": self.config_changed,
            "refusal": self.refusal,
        }


async def incoming(config: Config, *, commit: str | None = None) -> Incoming:
    """Fetch the branch (or, given ``commit``, use that commit, fetched before) and
    compare its tip with the checkout; reads the new config from git."""
    checkout = await open_checkout(config)
    tip = await checkout.commit(commit) if commit else await checkout.fetch()
    head = await checkout.head()
    stacks, other, config_changed = await checkout.changes(head.sha, tip.sha)
    new_config = await checkout.config_at(tip.sha, config)
    recorded = StateStore(config.state_path).read().commit
    refusal = await checkout.refusal(tip.sha) if tip.sha != head.sha else None
    return Incoming(
        checkout, head, recorded, tip, stacks, other, config_changed, new_config, refusal
    )


@dataclass(frozen=True)
class Pulled:
    """How ``pull`` ended."""

    incoming: Incoming
    preview: Preview
    applied: Applied | None = None  # None: nothing was carried out
    moved_back: str | None = None  # the commit the checkout went back to
    back_failed: str | None = None  # why going back failed (the checkout stays moved)

    @property
    def ok(self) -> bool:
        """The commit is applied (or there was nothing to apply)."""
        return self.applied is None or _complete(self.applied)


Show = Callable[[Preview], None]
Confirm = Callable[[Preview], Awaitable[bool]]


def _complete(applied: Applied) -> bool:
    return applied.ok and not applied.preview.held


async def pull(
    ops: Operations,
    found: Incoming,
    *,
    show: Show,
    show_applied: Show,
    confirm: Confirm,
    dry_run: bool = False,
) -> Pulled:
    """Plan, and unless ``dry_run``, apply ``found.commit`` (see the module docstring).
    ``ops`` must be built over ``found.config``. ``show``: the plan before the checkout
    moves; ``show_applied``: the plan ``apply`` made after it, when that differs."""
    checkout, new = found.checkout, found.commit.sha
    async with ops.exclusive():
        planned = await preview(ops)
        show(planned)
        if dry_run or not found.pending:
            return Pulled(found, planned)
        if not await confirm(planned):
            return Pulled(found, planned)
        old = (await checkout.head()).sha  # under the lock: as it is now
        refusal = await checkout.refusal(new)
        if refusal is not None:
            raise GitError(refusal, hint="nothing was changed on the hosts")
        await checkout.move_to(new)
        ops.sink(notice(f"checkout {checkout.top} now at {found.commit.short}"))

        def again(replanned: Preview) -> None:  # shown only when it differs from the preview
            if replanned.sections() != planned.sections() or replanned.warnings():
                show_applied(replanned)

        try:
            applied = await apply(ops, show=again, confirm=_yes)
        except BaseException:
            await _back(ops, checkout, old, new)
            raise
        if _complete(applied):
            ops.store.modify(lambda state: state.with_commit(new))
            ops.sink(notice(f"applied commit {found.commit.line()}"))
            return Pulled(found, planned, applied)
        why = await _back(ops, checkout, old, new)
        return Pulled(found, planned, applied, moved_back=old, back_failed=why)


async def _yes(_found: Preview) -> bool:
    return True


async def _back(ops: Operations, checkout: Checkout, old: str, new: str) -> str | None:
    """Return the checkout to ``old`` after the apply of ``new`` failed; say so."""
    if old == new:
        return None
    why = await checkout.move_back(old)
    if why is None:
        ops.sink(
            notice(
                f"commit {new[:10]} was not applied in full: checkout {checkout.top} is back "
                f"at {old[:10]}; steps that succeeded stay done (`cf apply` returns the "
                "hosts to the checked-out config)",
                warning=True,
            )
        )
    else:
        ops.sink(
            notice(
                f"commit {new[:10]} was not applied in full, and the checkout could not go "
                f"back to {old[:10]}: {why}",
                warning=True,
            )
        )
    return why
