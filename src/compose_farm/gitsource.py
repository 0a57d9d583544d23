"""The compose folder (and the config) from a git repository: the checkout and what ``git``
says about it (docs/git.md).

cf runs the system ``git`` on this machine with every argument as a list item (no
shell), with the user's own SSH or HTTPS setup (``~/.ssh/config``, credential
helpers, known hosts: nothing is turned off or added), never asking at a terminal
prompt. A fetch lands on a ref of cf's own (``FETCHED_REF``), so the checkout and
the user's remote-tracking branches are untouched until a commit is applied.

The parts that only read text are pure: ``changed_stacks`` maps the files a commit
changed to stack names; ``parse_commit`` reads ``git log``'s line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from compose_farm.config import Config, parse_config
from compose_farm.config.models import GitOptions
from compose_farm.errors import FarmError
from compose_farm.yamlio import parse_yaml

FETCHED_REF = "refs/compose-farm/fetched"
GIT_TIMEOUT = 300.0  # a fetch over a slow link; a git that hangs longer is cut off
_SEP = "\x1f"
_LOG_FORMAT = _SEP.join(("%H", "%an", "%ae", "%ct", "%s"))


class GitError(FarmError):
    """``git`` failed, or the checkout is not in a state cf may move."""


@dataclass(frozen=True)
class Commit:
    """One commit as the plan's header shows it."""

    sha: str
    author: str
    email: str
    time: int  # seconds since the epoch (committer time)
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]

    def line(self) -> str:
        """``0a1b2c3d4e by Ann: move db to h2``."""
        return f"{self.short} by {self.author}: {self.subject}"

    def public(self) -> dict[str, object]:
        return {
            "sha": self.sha,
            "author": self.author,
            "email": self.email,
            "time": self.time,
            "subject": self.subject,
        }


def parse_commit(text: str) -> Commit:
    """A ``git log -1 --format=_LOG_FORMAT`` line."""
    parts = text.rstrip("\n").split(_SEP, 4)  # the subject may hold anything
    if len(parts) != 5 or not parts[3].isdigit():
        raise GitError(f"unexpected answer from git log: {text[:200]!r}")
    sha, author, email, when, subject = parts
    return Commit(sha, author, email, int(when), subject)


def changed_stacks(
    paths: Iterable[str], compose: PurePosixPath | None
) -> tuple[tuple[str, ...], bool]:
    """The stacks whose folders hold one of ``paths`` (relative to the checkout), in order,
    and whether a path outside every stack folder changed. ``compose``: the compose
    folder relative to the checkout (``None``: outside it, so no stack changed)."""
    stacks: dict[str, None] = {}
    other = False
    for path in paths:
        parts = PurePosixPath(path).parts
        if compose is not None:
            head = compose.parts if compose != PurePosixPath(".") else ()
            if parts[: len(head)] == head and len(parts) > len(head) + 1:
                stacks[parts[len(head)]] = None
                continue
        other = True
    return tuple(sorted(stacks)), other


def _inside(path: Path, top: Path) -> PurePosixPath | None:
    try:
        return PurePosixPath(path.resolve().relative_to(top).as_posix())
    except ValueError:
        return None


@dataclass(frozen=True)
class Checkout:
    """Where the farm's repository is checked out, and where the config and the compose
    folder sit in it."""

    options: GitOptions
    top: Path
    config_file: PurePosixPath | None  # None: the config is not in the repository
    compose: PurePosixPath | None  # None: the compose folder is not in it
    environ: Mapping[str, str]

    @property
    def remote(self) -> str:
        return self.options.url or "origin"

    async def git(
        self, *args: str, check: bool = True, timeout: float = GIT_TIMEOUT
    ) -> tuple[int, str, str]:
        """``git -C TOP ARGS``: (exit code, stdout, stderr); a failure raises ``GitError``
        unless ``check`` is off."""
        return await run_git(self.top, args, self.environ, check=check, timeout=timeout)

    async def head(self) -> Commit:
        return await self.commit("HEAD")

    async def commit(self, rev: str) -> Commit:
        _, out, _ = await self.git("log", "-1", f"--format={_LOG_FORMAT}", rev, "--")
        return parse_commit(out)

    async def fetch(self) -> Commit:
        """Fetch the branch onto ``FETCHED_REF``; its tip."""
        branch = self.options.branch
        refspec = f"+refs/heads/{branch}:{FETCHED_REF}"
        code, _, err = await self.git(
            "fetch", "--no-tags", "--quiet", "--", self.remote, refspec, check=False
        )
        if code != 0:
            raise GitError(
                f"git fetch of {branch} from {self.remote} failed: {_last_lines(err, 6)}",
                hint="cf uses your git setup (ssh keys, known hosts, credential helpers): "
                f"check that `git -C {self.top} fetch {self.remote} {branch}` works as this user",
            )
        return await self.commit(FETCHED_REF)

    async def changes(self, old: str, new: str) -> tuple[tuple[str, ...], bool, bool]:
        """(stacks changed, other files changed, the config changed) from ``old`` to ``new``."""
        _, out, _ = await self.git("diff", "--name-only", "-z", old, new, "--")
        paths = [p for p in out.split("\0") if p]
        stacks, other = changed_stacks(paths, self.compose)
        config = self.config_file is not None and str(self.config_file) in paths
        return stacks, other, config

    async def config_at(self, sha: str, current: Config) -> Config:
        """The config as commit ``sha`` has it, read from git (the checkout is untouched),
        as if it were at ``current.path``; ``current`` itself when it is not in git."""
        if self.config_file is None:
            return current
        code, text, err = await self.git("show", f"{sha}:{self.config_file}", check=False)
        if code != 0:
            raise GitError(
                f"commit {sha[:10]} has no {self.config_file}: {_last_lines(err)}",
                hint="the config must stay in the repository once it is there",
            )
        try:
            raw = parse_yaml(text, current.path)
            if not isinstance(raw, Mapping):
                raise GitError(f"{self.config_file} in commit {sha[:10]} is not a mapping")
            return parse_config(raw, current.path)
        except FarmError as exc:
            raise GitError(
                f"the config in commit {sha[:10]} is invalid (nothing was applied): {exc}",
                hint="fix it in the repository and push again",
            ) from None

    async def refusal(self, new: str) -> str | None:
        """Why the checkout cannot be moved to ``new`` now, or ``None``."""
        code, branch, _ = await self.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        want = self.options.branch
        if code != 0 or branch.strip() != want:
            found = f"branch {branch.strip()}" if code == 0 else "a detached HEAD"
            return (
                f"{self.top} has {found} checked out, not {want}: "
                f"run `git -C {self.top} switch {want}`"
            )
        _, dirty, _ = await self.git("status", "--porcelain", "--untracked-files=no")
        if dirty.strip():
            files = ", ".join(line[3:] for line in dirty.splitlines()[:5])
            return (
                f"{self.top} has uncommitted changes ({files}): commit and push them, or "
                f"discard them (`git -C {self.top} stash`), then pull again"
            )
        code, _, _ = await self.git("merge-base", "--is-ancestor", "HEAD", new, check=False)
        if code != 0:
            return (
                f"{new[:10]} does not follow the checked-out commit (the branch was rewritten, "
                f"or {self.top} has commits of its own): cf only fast-forwards; "
                f"reconcile the branches with git in {self.top}"
            )
        return None

    async def move_to(self, sha: str) -> None:
        """Fast-forward the checkout's branch to ``sha``."""
        await self.git("merge", "--ff-only", "--quiet", sha)

    async def move_back(self, sha: str) -> str | None:
        """Put the checkout's branch back on ``sha``; why that failed, or ``None``.

        ``reset --keep`` refuses rather than throw away a file someone changed meanwhile.
        """
        code, _, err = await self.git("reset", "--keep", "--quiet", sha, check=False)
        return None if code == 0 else _last_lines(err)


async def open_checkout(config: Config, environ: Mapping[str, str] | None = None) -> Checkout:
    """The checkout ``config.git`` names (``path``, else the compose folder's repository)."""
    options = config.git
    if options is None:
        raise GitError(
            "the config has no git section",
            hint="add `git: {branch: main}` to the config (docs/git.md)",
        )
    env = dict(os.environ if environ is None else environ)
    start = Path(options.path).expanduser() if options.path else Path(str(config.compose_dir))
    if not start.is_absolute():
        start = config.path.resolve().parent / start
    if not start.is_dir():
        raise GitError(
            f"git checkout {start} does not exist",
            hint=f"clone the repository there: git clone -b {options.branch} URL {start}",
        )
    code, out, err = await run_git(start, ("rev-parse", "--show-toplevel"), env, check=False)
    if code != 0:
        raise GitError(
            f"{start} is not in a git checkout: {_last_lines(err)}",
            hint="clone the farm's repository there, or set git.path to its checkout",
        )
    top = Path(out.strip()).resolve()
    compose = _inside(Path(str(config.compose_dir)), top)
    return Checkout(options, top, _inside(config.path, top), compose, env)


async def run_git(
    where: Path,
    args: Iterable[str],
    environ: Mapping[str, str],
    *,
    check: bool = True,
    timeout: float = GIT_TIMEOUT,
) -> tuple[int, str, str]:
    """Run ``git -C WHERE ARGS`` (no shell, no terminal prompt); see ``Checkout.git``."""
    argv = ["git", "-C", str(where), *args]
    env = {**environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        raise GitError(
            f"cannot run git: {exc.strerror or exc}", hint="install git on this machine"
        ) from None
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        if isinstance(exc, TimeoutError):
            raise GitError(f"git {argv[3]} in {where} took over {timeout:.0f} s; cut off") from None
        raise
    code = process.returncode or 0
    result = (code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    if check and code != 0:
        raise GitError(f"git {' '.join(argv[3:5])} failed in {where}: {_last_lines(result[2])}")
    return result


def _last_lines(text: str, count: int = 3) -> str:
    """git's last ``count`` lines of stderr on one line (at most 2000 characters)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:])[-2000:] or "no message"
