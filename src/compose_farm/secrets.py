"""Keep values from stacks' ``.env`` files out of everything cf shows.

Every line printed by the CLI or sent to the web UI passes through
``Secrets.mask`` with the stack it came from. A stack's ``.env`` is read once
per run, when its first line needs masking, with every backup of it the
editors kept: a container started before an edit of the ``.env`` still runs
with the old values until it is recreated. A stack's SOPS-encrypted secrets
(``sops.py``) are decrypted here too, when this machine holds their key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from compose_farm.backups import Backups
from compose_farm.compose import read_dotenv
from compose_farm.compose.masking import masker
from compose_farm.config import Config
from compose_farm.errors import ComposeFileError


class Secrets:
    """The ``.env`` values of a farm's stacks (and of their backups), loaded lazily.

    ``backups``: where the editors keep old versions (default: cf's state folder
    as ``environ`` places it).
    """

    def __init__(
        self, config: Config, environ: Mapping[str, str], backups: Backups | None = None
    ) -> None:
        self.config = config
        self.environ = environ
        self.backups = backups if backups is not None else Backups.default(environ)
        self._values: dict[str, frozenset[str]] = {}
        self._maskers: dict[str | None, Callable[[str], str]] = {}  # None: every stack's

    def of(self, stack: str) -> frozenset[str]:
        """The secret values of one stack: its ``.env``'s and its kept backups'."""
        if stack not in self._values:
            folder = Path(str(self.config.stack_dir(stack)))
            found: set[str] = set()
            for path in (folder / ".env", *self.backups.dotenv_copies(stack, folder)):
                found |= _values_of(path)
            found |= _sops_values(self.config, stack, self.environ, self.backups)
            self._values[stack] = frozenset(found)
        return self._values[stack]

    def everything(self) -> frozenset[str]:
        """The secret values of every configured stack."""
        found: set[str] = set()
        for stack in self.config.stacks:
            found |= self.of(stack)
        return frozenset(found)

    def mask(self, stack: str | None, text: str) -> str:
        """``text`` with the stack's secrets (every stack's when ``None``) replaced."""
        key = stack if stack is not None and stack in self.config.stacks else None
        replace = self._maskers.get(key)
        if replace is None:
            replace = masker(self.of(key) if key is not None else self.everything())
            self._maskers[key] = replace
        return replace(text)


def _sops_values(
    config: Config, stack: str, environ: Mapping[str, str], backups: Backups
) -> frozenset[str]:
    """The non-empty values of the stack's ``.env.sops`` and of its newest kept copies
    (none from a file that cannot be decrypted here: no command of this run can have
    been handed them either)."""
    from compose_farm.sops import KEPT_MASKED, SOPS_FILE, SopsError, decrypt, sops_path

    current = sops_path(config, stack)
    if not current.is_file():
        return frozenset()
    found: set[str] = set()
    for path in (current, *backups.copies(stack, SOPS_FILE)[-KEPT_MASKED:]):
        try:
            stamp = _stamp(path)
        except OSError:
            continue
        kept = _DECRYPTED.get(path)
        if kept is not None and kept[0] == stamp:
            found |= kept[1]
            continue
        try:
            values = decrypt(path, stack, environ).values()
        except SopsError:
            continue
        # a value of several lines is shown line by line too
        masked = frozenset(p for v in values for p in (v, *v.splitlines()) if p)
        _DECRYPTED[path] = (stamp, masked)
        found |= masked
    return frozenset(found)


# An encrypted file's values by its identity and version: the web rebuilds its masker
# every few seconds, and each `sops -d` is a process (~40 ms) per file; a file is
# decrypted again only when it changed (new inode, size or time).
_DECRYPTED: dict[Path, tuple[tuple[int, int, int, int], frozenset[str]]] = {}


def _stamp(path: Path) -> tuple[int, int, int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _values_of(path: Path) -> frozenset[str]:
    """The non-empty values of the ``.env`` text at ``path`` (none when it is missing)."""
    try:
        return frozenset(v for v in read_dotenv(path, {}).values.values() if v)
    except ComposeFileError:
        return _as_written(path)  # one odd line must not unmask the rest


def _as_written(path: Path) -> frozenset[str]:
    """Every ``KEY=VALUE`` value as written (quotes off, nothing interpolated).

    For a ``.env`` that Compose's rules cannot parse here (say ``${HOME:?}``
    with no environment): its values are secrets all the same.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    found: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if not sep or not key.strip() or key.lstrip().startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value:
            found.add(value)
    return frozenset(found)
