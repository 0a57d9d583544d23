"""``cf web`` and the farm's git branch: checks (from a webhook, polling or a click), the
new commit's plan for the dashboard, and applying it (docs/git.md).

A check fetches the branch and plans the tip's config against what runs now
(``operations/gitpull.py``); the dashboard's commit panel shows the result. With
``git.auto_apply`` a new commit is applied at once, as a task like Apply's; otherwise
it waits for the Apply commit button, which applies exactly the commit shown (a newer
one arriving meanwhile replaces the panel, never the click's meaning). Checks never
overlap: a ring during a check makes one more check after it. Polling (``git.poll``)
runs from the app's start to its end; the interval is read from the config each round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.config import Config
from compose_farm.errors import FarmError
from compose_farm.executor import discard, notice
from compose_farm.operations.apply import Preview, preview
from compose_farm.operations.context import operations_for
from compose_farm.operations.gitpull import Incoming, incoming, pull
from compose_farm.plan import Section
from compose_farm.web.farm import Farm
from compose_farm.web.hooksig import HookLimit
from compose_farm.web.tasks import Sink, Task

log = logging.getLogger("compose_farm.web.hooks")
IDLE_RECHECK = 60.0  # seconds between looks at the config while polling is off


@dataclass(frozen=True)
class GitView:
    """What the commit panel shows after a check."""

    incoming: Incoming | None
    sections: tuple[Section, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    checked: float = field(default_factory=time.time)

    @property
    def commit_line(self) -> str:
        return self.incoming.commit.line() if self.incoming else ""


class GitWatch:
    """The web app's git checks and commit applies, over ``farm``."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.limit = HookLimit()
        self.view: GitView | None = None
        self.applying: Task | None = None
        self.poller: asyncio.Task[None] | None = None  # while the app runs
        self._check: asyncio.Task[None] | None = None
        self._again = False

    async def config(self) -> Config | None:
        """The config as it is now, when it names a git branch."""
        try:
            config = await self.farm.read_config()
        except FarmError:
            return None
        return config if config.git is not None else None

    def secret(self, config: Config) -> bytes | None:
        """The webhook secret from its file or variable (read on every hook, so a new
        secret takes effect at once); ``None`` when it cannot be read (logged, no value)."""
        hook = config.git.webhook if config.git else None
        if hook is None:
            return None
        if hook.secret_env is not None:
            value = self.farm.environ.get(hook.secret_env, "").strip()
            if not value:
                log.warning("git hook: $%s is empty or not set", hook.secret_env)
            return value.encode() or None
        assert hook.secret_file is not None
        path = Path(hook.secret_file).expanduser()
        if not path.is_absolute():
            path = config.path.resolve().parent / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("git hook: cannot read the secret file %s: %s", path, exc)
            return None
        if not value:
            log.warning("git hook: the secret file %s is empty", path)
        return value.encode() or None

    # --- checks -----------------------------------------------------------------------

    def ring(self) -> None:
        """Check the branch soon (now, or once more after the check that is running)."""
        if self._check is not None and not self._check.done():
            self._again = True
            return
        self._check = asyncio.get_running_loop().create_task(self._checks())

    async def _checks(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.check()
            except Exception:  # a background task: say so, keep serving
                log.exception("git check failed")

    async def check(self) -> GitView | None:
        """Fetch, plan, show; apply when ``auto_apply`` says so. Never raises a FarmError:
        the panel says what went wrong."""
        config = await self.config()
        if config is None:
            return None
        try:
            found = await incoming(config)
            planned = await self._plan(found)
        except FarmError as exc:
            log.warning("git check failed: %s", exc.message)
            self.view = GitView(None, error=self.farm.mask(None, str(exc)))
            return self.view
        self.view = GitView(found, tuple(planned.sections()), tuple(planned.warnings()))
        if found.pending:
            log.info("git: new commit %s", found.commit.line())
        assert config.git is not None
        idle = self.applying is None or self.applying.done
        if found.pending and config.git.auto_apply and found.refusal is None and idle:
            self.apply(found.commit.sha)
        return self.view

    async def _plan(self, found: Incoming) -> Preview:
        async with self.farm.executor_factory(found.config) as executor:
            ops = operations_for(found.config, executor, discard, self.farm.environ)
            return await preview(ops)

    # --- applying ---------------------------------------------------------------------

    def apply(self, sha: str) -> Task:
        """Apply commit ``sha`` (fetched before) as a task: the same workflow as
        ``cf pull-config --yes``."""

        async def run(sink: Sink) -> tuple[bool, str]:
            config = await self.farm.read_config()
            try:
                found = await incoming(config, commit=sha)
                async with self.farm.executor_factory(found.config) as executor:
                    ops = operations_for(
                        found.config, executor, sink, self.farm.environ, who="cf web: git"
                    )
                    for line in found.lines():
                        sink(notice(line))
                    done = await pull(
                        ops,
                        found,
                        show=lambda p: _show(sink, "Plan for this commit", p),
                        show_applied=lambda p: _show(sink, "Applying", p),
                        confirm=_yes,
                    )
            finally:
                self.farm.invalidate()
            self.ring()  # the panel shows what is checked out now
            if not found.pending:
                return True, f"commit {found.commit.short} was applied already"
            if done.ok:
                return True, f"applied commit {found.commit.line()}"
            back = f"; checkout back at {done.moved_back[:10]}" if done.moved_back else ""
            return False, f"commit {found.commit.short} not applied in full{back}"

        self.applying = self.farm.tasks.start(f"Apply commit {sha[:10]}", run)
        return self.applying

    # --- polling ----------------------------------------------------------------------

    async def poll(self) -> None:
        """Check every ``git.poll`` seconds (looking again at the config while it is 0)."""
        while True:
            config = await self.config()
            every = config.git.poll if config is not None and config.git is not None else 0
            if every:
                self.ring()
            await asyncio.sleep(every or IDLE_RECHECK)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Poll for the app's lifetime; cancel the poll and any check at its end."""
        poller = self.poller = asyncio.get_running_loop().create_task(self.poll())
        try:
            yield
        finally:
            for task in (poller, self._check):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task


async def _yes(_planned: Preview) -> bool:
    return True  # the button (or auto_apply) is the confirmation


def _show(sink: Sink, title: str, planned: Preview) -> None:
    for why in planned.warnings():
        sink(notice(f"warning: {why}", warning=True))
    sink(notice(f"{title}:"))
    for section in planned.sections():
        sink(notice(f"{section.title}:"))
        for line in section.lines:
            sink(notice(f"  - {line}"))
    if planned.plan.empty:
        sink(notice("  nothing to change on the hosts"))
