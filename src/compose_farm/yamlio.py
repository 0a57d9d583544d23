"""YAML reading and writing that keeps line numbers for error messages.

ruamel.yaml's round-trip loader records where every key and item came from,
so a validation error deep in a file can name its line.

Reading is bounded whatever the file says. An alias shares the node it names,
so parsing stays cheap, but everything after (models, interpolation, walks)
sees the node once per alias: nested aliases (``b: [*a, *a, ...]``, ``c: [*b,
...]``) make a few hundred bytes stand for billions of nodes. While composing,
each alias adds the full expanded size of its node to a count (sizes are
computed once per node, so the count is linear in the file), and a file whose
aliases add more than ``MAX_ALIAS_NODES`` nodes is refused at the alias that
crossed the line. (Docker Compose v2.40 refuses only an alias inside the
node it names; it expands the rest: a 9^6 bomb takes it a minute.) Nesting
deeper than ``MAX_DEPTH`` and aliases inside the node they name are refused
as well: both would exhaust Python's stack later.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, StreamMark, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.representer import SafeRepresenter

from compose_farm.errors import ConfigError

# Nodes that aliases may add to a document, beyond the ones written in it. A real
# compose file with 500 services each merging a 50-node `x-` block adds 25,000;
# processing 100,000 more takes well under a second.
MAX_ALIAS_NODES = 100_000
# Nesting levels of mappings and sequences; compose files use fewer than ten.
MAX_DEPTH = 100


class _Refused(Exception):
    """A document that would be too large or too deep once read; ``mark`` is where."""

    def __init__(self, message: str, mark: StreamMark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _BoundedComposer(Composer):
    """Composes as ruamel.yaml does, counting what aliases expand to and how deep it nests."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.sizes: dict[int, int] = {}  # id(node) -> nodes in it once aliases are expanded
        self.added = 0  # nodes aliases added so far
        self.levels = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            size = self.sizes.get(id(node))
            if size is None:  # its node is still being composed: it contains the alias
                raise _Refused(
                    f"the alias *{event.anchor} refers to a node that contains it", event.start_mark
                )
            self.added += size
            if self.added > MAX_ALIAS_NODES:
                raise _Refused(
                    f"aliases expand too far: with *{event.anchor} here they would add more "
                    f"than {MAX_ALIAS_NODES:,} nodes to the document",
                    event.start_mark,
                )
            return node
        self.levels += 1
        if self.levels > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        node = super().compose_node(parent, index)
        self.levels -= 1
        self.sizes[id(node)] = 1 + sum(self.sizes[id(child)] for child in _children(node))
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = _BoundedComposer
    return yaml


def parse_yaml(text: str, path: Path) -> Any:
    """Parse ``text`` (read from ``path``); syntax errors become ``ConfigError`` with a line.

    Documents whose aliases expand too far, or that nest too deep, are refused
    the same way, naming the line where the limit was crossed.
    """
    try:
        return _loader().load(text)
    except _Refused as exc:
        raise ConfigError(exc.message, path=path, line=exc.mark.line + 1) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        message = f"YAML syntax error: {what}{_still_open(exc, text)}"
        raise ConfigError(message, path=path, line=line) from None
    except YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", path=path) from None


# What a construct that can span lines starts with, as a message names it.
_OPENERS = {"[": "the '['", "{": "the '{'", '"': 'the " quote', "'": "the ' quote"}


def _still_open(exc: MarkedYAMLError, text: str) -> str:
    """Where the bracket, brace or quote the parser was inside began, if it was inside one.

    ``context_mark`` is where the construct being read began; the parser stops
    (``problem_mark``) wherever the missing closer finally shows: often many
    lines on, or at the end of the file.
    """
    began, stopped = exc.context_mark, exc.problem_mark
    if began is None or stopped is None or not 0 <= began.index < len(text):
        return ""
    opener = _OPENERS.get(text[began.index])
    if opener is None:
        return ""
    if not text[stopped.index :].strip():
        return f" ({opener} opened on line {began.line + 1} is never closed)"
    if began.line == stopped.line:
        return f" ({opener} at column {began.column + 1} is still open here)"
    return f" ({opener} opened on line {began.line + 1} is still open here)"


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
