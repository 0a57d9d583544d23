"""YAML reading and writing that keeps line numbers for error messages.

ruamel.yaml's round-trip loader records where every key and item came from,
so a validation error deep in a file can name its line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.representer import SafeRepresenter

from compose_farm.errors import ConfigError


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_yaml(text: str, path: Path) -> Any:
    """Parse ``text`` (read from ``path``); syntax errors become ``ConfigError`` with a line."""
    try:
        return _loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {what}", path=path, line=line) from None
    except YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", path=path) from None


def read_yaml_file(path: Path, *, what: str = "file") -> Any:
    """Read and parse a YAML file, turning every I/O problem into a ``ConfigError``."""
    if path.is_dir():
        raise ConfigError(f"is a directory, expected a {what}", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {exc}", path=path) from None
    return parse_yaml(text, path)


def line_of(data: Any, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the node at ``loc`` inside ``data``, as deep as it can be found."""
    line: int | None = None
    node = data
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            if part in node.lc.data:  # keys pulled in by a `<<:` merge have no position
                line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            pos = node.lc.item(part)
            line = pos[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(data, CommentedMap | CommentedSeq):
        line = data.lc.line + 1
    return line


@dataclass(frozen=True)
class OddKey:
    """A mapping key YAML read as something other than a string (``true``, ``null``, ``80``)."""

    loc: tuple[str | int, ...]  # where the mapping holding it is
    key: Any
    line: int | None

    @property
    def text(self) -> str:
        """The key as it was most likely written."""
        if isinstance(self.key, bool):
            return "true" if self.key else "false"
        return "null" if self.key is None else str(self.key)

    @property
    def where(self) -> str:
        """Its dotted path, the key itself last: ``stacks.true``."""
        return ".".join(str(p) for p in (*self.loc, self.text))

    @property
    def kind(self) -> str:
        """What YAML took the key for: ``a boolean``, ``null``, ``a number``..."""
        if isinstance(self.key, bool):
            return "a boolean"
        if self.key is None:
            return "null"
        if isinstance(self.key, int | float):
            return "a number"
        return f"a {type(self.key).__name__}"


def odd_keys(data: Any, loc: tuple[str | int, ...] = ()) -> list[OddKey]:
    """Every mapping key in ``data`` that is not a string, with its line.

    ``to_plain`` turns such keys into Python's spelling (``True``, ``None``), so
    a file that says ``true: nuc`` would silently name a stack ``True``: readers
    of names check this first.
    """
    found: list[OddKey] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                line = None
                if isinstance(data, CommentedMap) and key in data.lc.data:
                    line = data.lc.key(key)[0] + 1
                found.append(OddKey(loc, key, line))
            else:
                found += odd_keys(value, (*loc, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found += odd_keys(item, (*loc, i))
    return found


def to_plain(data: Any) -> Any:
    """Round-trip containers to plain dicts and lists (for models and JSON)."""
    if isinstance(data, dict):
        return {str(k) if not isinstance(k, str) else k: to_plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_plain(v) for v in data]
    return data


# Plain words that YAML 1.1 readers (PyYAML, go-yaml v2) take for booleans.
_YAML11_BOOLS = frozenset(["y", "yes", "n", "no", "on", "off", "true", "false"])


class _Representer(SafeRepresenter):
    """Quotes strings such as ``on`` or ``no`` that a YAML 1.1 reader would turn into booleans."""

    def represent_str(self, data: str) -> Any:
        style = "'" if data.lower() in _YAML11_BOOLS else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Representer.add_representer(str, _Representer.represent_str)


def dump_yaml(data: Any) -> str:
    """Serialise plain data as block-style YAML that 1.1 and 1.2 readers read alike."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.width = 1 << 30  # never fold long values (Traefik rules) onto a second line
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
