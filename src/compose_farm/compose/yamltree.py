"""Compose YAML read the way Docker Compose's YAML library reads it.

ruamel.yaml builds the node tree (bounded as every YAML file cf reads is, see
``yamlio``); the values are made here, because Compose's reader types plain
scalars differently from YAML 1.2: ``0755`` is octal (493), underscores are
dropped from numbers (``1_000``), ``2001-01-01`` is a timestamp (which no
compose field accepts), ``yes``/``on`` stay strings, and a number too large
for a float stays a string. Numbers written back into strings (a label
``1e15``) are printed as Compose prints them (``1e+15``): see ``scalar_text``.

Mappings and sequences come out as ``Map`` and ``Seq``, which remember the
file and line of every key and item, so an error found after files were
merged still names where the value was written. ``!reset`` and ``!override``
come out as ``Reset`` and ``Override`` wrappers for the merge to act on.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from compose_farm.errors import ComposeFileError, ConfigError, Problem
from compose_farm.yamlio import _BoundedComposer, _Refused, _still_open

Origin = tuple[Path, int]
PLAIN = "!cf-plain"  # the tag of an untagged plain scalar, resolved here rather than by ruamel


class Map(dict[str, Any]):
    """A mapping that knows where each key was written."""

    def __init__(self, origin: Origin, items: dict[str, Any] | None = None) -> None:
        super().__init__(items or {})
        self.origin = origin
        self.origins: dict[str, Origin] = {}

    def where(self, key: str) -> Origin:
        return self.origins.get(key, self.origin)

    def put(self, key: str, value: Any, origin: Origin) -> None:
        self[key] = value
        self.origins[key] = origin


class Seq(list[Any]):
    """A sequence that knows where each item was written."""

    def __init__(self, origin: Origin) -> None:
        super().__init__()
        self.origin = origin
        self.origins: list[Origin] = []

    def where(self, index: int) -> Origin:
        return self.origins[index] if 0 <= index < len(self.origins) else self.origin

    def add(self, value: Any, origin: Origin) -> None:
        self.append(value)
        self.origins.append(origin)


@dataclass(frozen=True)
class Reset:
    """A value tagged ``!reset``: drop what earlier files set."""

    value: Any = None


@dataclass(frozen=True)
class Override:
    """A value tagged ``!override``: replace, rather than merge with, earlier files."""

    value: Any


class _PlainResolver(VersionedResolver):
    """Leaves untagged plain scalars for ``resolve_plain``."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return Tag(suffix=PLAIN)
        return super().resolve(kind, value, implicit)


def parse_documents(text: str, path: Path) -> list[Any]:
    """Every YAML document of ``text`` (read from ``path``) as plain values."""
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    yaml.Resolver = _PlainResolver
    try:
        nodes = list(yaml.compose_all(text))
    except _Refused as exc:
        raise ComposeFileError(str(Problem(exc.message, path, exc.mark.line + 1))) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        message = f"YAML syntax error: {what}{_still_open(exc, text)}"
        raise ComposeFileError(str(Problem(message, path, line))) from None
    except (YAMLError, ConfigError) as exc:
        raise ComposeFileError(f"{path}: YAML syntax error: {exc}") from None
    builder = _Builder(path)
    return [builder.value(node) for node in nodes if node is not None]


class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def origin(self, node: Node) -> Origin:
        return (self.path, node.start_mark.line + 1)

    def value(self, node: Node) -> Any:
        tag = node.tag
        if tag == "!reset":
            return Reset(self._plain(node))
        if tag == "!override":
            return Override(self._plain(node))
        return self._plain(node)

    def _plain(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node)
        if isinstance(node, SequenceNode):
            out = Seq(self.origin(node))
            for item in node.value:
                out.add(self.value(item), self.origin(item))
            return out
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _mapping(self, node: MappingNode) -> Map:
        out = Map(self.origin(node))
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == PLAIN and key_node.value == "<<":
                merged += self._merge_sources(key_node, value_node)
                continue
            key = scalar_text(self._key(key_node))
            if key in out:
                first = out.where(key)[1]
                raise self._error(key_node, f'mapping key "{key}" already defined at line {first}')
            out.put(key, self.value(value_node), self.origin(key_node))
        for source in merged:
            built = self._mapping(source)
            for key, value in built.items():
                if key not in out:
                    out.put(key, value, built.where(key))
        return out

    def _merge_sources(self, key_node: Node, value_node: Node) -> list[MappingNode]:
        if isinstance(value_node, MappingNode):
            return [value_node]
        if isinstance(value_node, SequenceNode) and all(
            isinstance(item, MappingNode) for item in value_node.value
        ):
            return list(value_node.value)
        raise self._error(key_node, "map merge requires map or sequence of maps as the value")

    def _key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise self._error(node, "a mapping key must be a scalar")
        return self._scalar(node)

    def _scalar(self, node: ScalarNode) -> Any:
        text: str = node.value
        if node.tag == PLAIN:
            return resolve_plain(text)
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            value = resolve_plain(text)
            return value if isinstance(value, int | float) else text
        if node.tag == "tag:yaml.org,2002:bool":
            return _BOOLS.get(text, text)
        if node.tag == "tag:yaml.org,2002:null":
            return None
        return text

    def _error(self, node: Node, message: str) -> ComposeFileError:
        return ComposeFileError(str(Problem(message, self.path, node.start_mark.line + 1)))


@dataclass(frozen=True)
class Timestamp:
    """A plain scalar Compose's reader takes as a date or time: valid in no field."""

    text: str


_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INFINITIES = {
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
}
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?"
    r"(?:Z|[+-]\d{2}:\d{2})|[ ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?)"
)
_INT_BASES = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_INT64 = 1 << 63


def resolve_plain(text: str) -> Any:
    """A plain (unquoted) scalar as Compose's reader types it."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _INFINITIES:
        return _INFINITIES[text]
    if text[:1].isdigit() and _is_timestamp(text):
        return Timestamp(text)
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _FLOAT.fullmatch(plain):
        value = float(plain)
        if not math.isinf(value):
            return value
    return text


def _is_timestamp(text: str) -> bool:
    match = _DATE.fullmatch(text) or _TIME.fullmatch(text)
    if match is None:
        return False
    year, month, day = (int(match[i]) for i in (1, 2, 3))
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    clock = [int(part) for part in match.groups()[3:] if part is not None]
    return not clock or (clock[0] < 24 and clock[1] < 60 and clock[2] < 60)


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``, else ``ParseUint``: None when neither takes it."""
    sign, body = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    base = _INT_BASES.get(body[:2])
    if base is not None:
        body = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    else:
        base = 10
    if not body or not body.isascii() or not body.isalnum():
        return None
    try:
        value = int(body, base)
    except ValueError:
        return None
    value = -value if sign == "-" else value
    if -_INT64 <= value < _INT64:
        return value
    if not sign and value < (1 << 64):
        return value  # ParseUint
    return None


def scalar_text(value: Any) -> str:
    """A scalar as Compose writes it into a string field: ``true``, ``493``, ``1e+15``, ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def go_float(value: float) -> str:
    """``value`` formatted as Go's ``%v`` does (shortest digits, ``%e`` outside 1e-4..1e21)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = int(digits_tuple.exponent)
    point = len(digits) + exponent  # where the decimal point falls in ``digits``
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"
