"""Keep values from stacks' ``.env`` files out of everything cf shows.

Every line printed by the CLI or sent to the web UI passes through
``Secrets.mask`` with the stack it came from. A stack's ``.env`` is read once
per run, when its first line needs masking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from compose_farm.compose import read_dotenv
from compose_farm.compose.masking import masker
from compose_farm.config import Config
from compose_farm.errors import ComposeFileError


class Secrets:
    """The ``.env`` values of a farm's stacks, loaded lazily."""

    def __init__(self, config: Config, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ
        self._values: dict[str, frozenset[str]] = {}
        self._maskers: dict[str | None, Callable[[str], str]] = {}  # None: every stack's

    def of(self, stack: str) -> frozenset[str]:
        """The secret values of one stack (empty when it has no readable ``.env``)."""
        if stack not in self._values:
            path = Path(str(self.config.stack_dir(stack))) / ".env"
            try:
                values = frozenset(v for v in read_dotenv(path, {}).values.values() if v)
            except ComposeFileError:
                values = _as_written(path)  # one odd line must not unmask the rest
            self._values[stack] = values
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
