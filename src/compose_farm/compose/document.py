"""A compose file parsed, checked at the top level and interpolated.

The YAML tree is copied into plain dicts and lists while every string value is
interpolated (keys are not, as in Compose). Copying matters: anchors share
nodes, and interpolating a shared node in place would apply ``$$`` twice.
Lines are remembered per key path so later checks can name the line.

Compose's ``!reset`` tag drops a value and ``!override`` keeps it, which is what
they mean in a single file.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedBase, TaggedScalar

from compose_farm.compose.interpolate import TemplateError, substitute, unset_warning
from compose_farm.errors import ComposeFileError, ConfigError, Problem
from compose_farm.yamlio import parse_yaml

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ComposeDocument:
    """The interpolated content of one compose file, with the line of each key path."""

    path: Path
    data: dict[str, Any] = field(repr=False)
    lines: Mapping[Loc, int] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc``, or of its nearest parent that has one."""
        for end in range(len(loc), 0, -1):
            found = self.lines.get(loc[:end])
            if found is not None:
                return found
        return None

    def error(self, loc: Loc, message: str) -> ComposeFileError:
        """A ``ComposeFileError`` rendered as ``path:line: key: message``."""
        return ComposeFileError(str(Problem(message, self.path, self.line(loc), dotted(loc))))


def dotted(loc: Loc) -> str:
    """``("services", "web", "ports", 0)`` -> ``services.web.ports[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_document(text: str, path: Path, variables: Mapping[str, str]) -> ComposeDocument:
    """Parse and interpolate compose ``text`` read from ``path``."""
    try:
        tree = parse_yaml(text, path)
    except ConfigError as exc:
        raise ComposeFileError(str(exc)) from None
    if tree is None:
        raise ComposeFileError(f"{path}: empty compose file")
    if not isinstance(tree, dict):
        raise ComposeFileError(f"{path}: the top level must be a mapping, not {_kind(tree)}")
    walker = _Walker(path, variables)
    data = walker.value(tree, (), 1)
    doc = ComposeDocument(path, data, walker.lines, tuple(dict.fromkeys(walker.warnings)))
    services = data.get("services")
    if services is not None and not isinstance(services, dict):
        raise doc.error(("services",), f"must be a mapping, not {_kind(services)}")
    for name, service in (services or {}).items():
        if not isinstance(service, dict):
            raise doc.error(("services", name), f"must be a mapping, not {_kind(service)}")
    return doc


class _Walker:
    def __init__(self, path: Path, variables: Mapping[str, str]) -> None:
        self.path = path
        self.variables = variables
        self.lines: dict[Loc, int] = {}
        self.warnings: list[str] = []
        self.seen_unset: set[str] = set()

    def value(self, node: Any, loc: Loc, line: int) -> Any:
        if isinstance(node, dict):
            return self._mapping(node, loc, line)
        if isinstance(node, list):
            return self._sequence(node, loc, line)
        if isinstance(node, TaggedScalar):
            node = node.value
        if isinstance(node, str):
            return self._string(node, loc, line)
        return _plain_scalar(node)

    def _mapping(self, node: dict[Any, Any], loc: Loc, line: int) -> dict[str, Any]:
        positions = _positions(node)
        out: dict[str, Any] = {}
        for raw_key, child in node.items():
            if _tag(child) == "!reset":
                continue
            key = scalar_text(raw_key)
            child_line = positions[raw_key][0] + 1 if raw_key in positions else line
            self.lines[(*loc, key)] = child_line
            out[key] = self.value(child, (*loc, key), child_line)
        return out

    def _sequence(self, node: list[Any], loc: Loc, line: int) -> list[Any]:
        positions = _positions(node)
        out: list[Any] = []
        for index, child in enumerate(node):
            if _tag(child) == "!reset":
                continue
            child_line = positions[index][0] + 1 if index in positions else line
            self.lines[(*loc, len(out))] = child_line
            out.append(self.value(child, (*loc, len(out)), child_line))
        return out

    def _string(self, text: str, loc: Loc, line: int) -> str:
        if "$" not in text:
            return str(text)
        try:
            result = substitute(text, self.variables)
        except TemplateError as exc:
            raise ComposeFileError(str(Problem(str(exc), self.path, line, dotted(loc)))) from None
        for name in result.unset:
            if name not in self.seen_unset:
                self.seen_unset.add(name)
                self.warnings.append(str(Problem(unset_warning(name), self.path, line)))
        return result.value


def _positions(node: Any) -> dict[Any, list[int]]:
    """ruamel's (line, column, ...) of each key or item of ``node``, 0-based."""
    if isinstance(node, CommentedBase):
        data: dict[Any, list[int]] = node.lc.data
        return data
    return {}


def _tag(node: Any) -> str | None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", None)
    return value if isinstance(value, str) else None


def _plain_scalar(node: Any) -> Any:
    """ruamel's scalar subclasses as plain ``bool``/``int``/``float``/``str``/``None``."""
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime.date):
        return node.isoformat()
    return str(node)


def scalar_text(value: Any) -> str:
    """A scalar as Compose shows it in a string field: ``true``, ``8080``, ``1.5``, ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a scalar ({scalar_text(value)!r})"
