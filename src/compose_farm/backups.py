"""The editors' backups: the previous version of each saved file, kept on this machine only.

A stack's folder is copied to its hosts by ``cf sync`` and, on shared storage,
is every host's copy and part of any ``build: .`` context: an old ``.env`` kept
there spreads old passwords. So backups live in cf's own state folder on the
machine running cf::

    $XDG_STATE_HOME/compose-farm/backups/       (default ~/.local/state/...)
        <stack>/compose.yaml.<UTC time>.<ns>    a stack's compose file and .env
        <stack>/.env.<UTC time>.<ns>
        _config/compose-farm.yaml.<UTC time>.<ns>

Folders are 0700, copies 0600 (the file's own mode when stricter). ``_config``
cannot clash with a stack: stack names start with a letter or a digit. Older
versions kept backups in ``<stack folder>/.cf-backup/``: sync never sends such
a folder, and the masker still reads the ``.env`` copies left in it.
"""

from __future__ import annotations

import contextlib
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from compose_farm.errors import FarmError
from compose_farm.fsutil import atomic_write
from compose_farm.status import ExitStatus

LEGACY_FOLDER = ".cf-backup"  # inside a stack folder, written by older versions
CONFIG = "_config"
KEEP = 10
DOTENV = ".env"


class BackupRefused(FarmError):
    """A backup that cannot be kept where cf keeps them: nothing is saved then."""

    exit_code = ExitStatus.USAGE


def state_home(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME`` when set to an absolute path (the spec ignores others), else
    ``~/.local/state``."""
    xdg = Path(environ.get("XDG_STATE_HOME", ""))
    if xdg.is_absolute():
        return xdg
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "state"


@dataclass(frozen=True)
class Backups:
    """The backups folder (``root``): one sub-folder per stack, and ``_config``."""

    root: Path

    @classmethod
    def default(cls, environ: Mapping[str, str]) -> Backups:
        """``<state home>/compose-farm/backups``."""
        return cls(state_home(environ) / "compose-farm" / "backups")

    def keep(self, shelf: str, path: Path, *, now: float | None = None) -> Path | None:
        """Copy ``path`` (when it is a file) into the ``shelf`` folder, drop the copies of
        the same name beyond ``KEEP``; the copy's path, or ``None`` with nothing to copy.

        Only files named as this function names them are ever removed.
        """
        if not path.is_file():
            return None
        folder = self._folder(shelf)
        # A readable time, then zero-padded nanoseconds: names sort in the order made.
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        copy = folder / f"{path.name}.{stamp}.{time.time_ns():020d}"
        try:
            mode = path.stat().st_mode & 0o600  # 0600, or the file's own when stricter
            atomic_write(copy, path.read_text(encoding="utf-8"), default_mode=mode)
            for stale in self.copies(shelf, path.name)[:-KEEP]:
                stale.unlink(missing_ok=True)
        except (OSError, UnicodeDecodeError) as exc:
            raise BackupRefused(f"{copy}: cannot keep a backup: {exc}. Nothing was saved") from None
        return copy

    def copies(self, shelf: str, name: str) -> list[Path]:
        """The regular files in the ``shelf`` folder that ``keep`` made of ``name``, oldest
        first."""
        pattern = re.compile(re.escape(name) + r"\.\d{8}-\d{6}\.\d{20}")
        return sorted(p for p in _regular_files(self.root / shelf) if pattern.fullmatch(p.name))

    def dotenv_copies(self, stack: str, stack_dir: Path) -> list[Path]:
        """Every kept copy of ``stack``'s ``.env``: here, and in a ``.cf-backup`` folder an
        older version left in ``stack_dir`` (any ``.env.*`` file: their names changed)."""
        found = self.copies(stack, DOTENV)
        legacy = _regular_files(stack_dir / LEGACY_FOLDER)
        return found + sorted(p for p in legacy if p.name.startswith(f"{DOTENV}."))

    def _folder(self, shelf: str) -> Path:
        """``root/shelf``, made (0700) if need be, and refused unless every folder from
        ``compose-farm`` down is a real folder: a symlink there would send backups, and
        the removal of old ones, somewhere else."""
        self.root.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        why = "cf keeps backups only in a real folder there; move it away. Nothing was saved"
        for folder in (self.root.parent, self.root, self.root / shelf):
            if folder.is_symlink():
                raise BackupRefused(f"{folder} is a symlink: {why}")
            try:
                with contextlib.suppress(FileExistsError):
                    folder.mkdir(mode=0o700)
                info = folder.lstat()
                if not stat.S_ISDIR(info.st_mode):
                    raise BackupRefused(f"{folder} is not a folder: {why}")
                if info.st_mode & 0o077:
                    folder.chmod(0o700)
            except OSError as exc:
                raise BackupRefused(f"{folder}: cannot keep backups there: {exc}") from None
        return self.root / shelf


def _regular_files(folder: Path) -> list[Path]:
    """The regular files directly in ``folder``; none when it is not a real folder."""
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return []
        return [p for p in folder.iterdir() if stat.S_ISREG(p.lstat().st_mode)]
    except OSError:
        return []
