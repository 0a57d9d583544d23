"""One compose file: its YAML documents merged, then interpolated.

A file may hold several YAML documents (``---``): Compose merges them in
order, as it merges several files. Every string value is then interpolated
(keys are not, as in Compose); the tree is copied on the way, so a node that
anchors share is interpolated once per use, never twice in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compose_farm.compose.interpolate import TemplateError, substitute, unset_warning
from compose_farm.compose.merge import merge_files
from compose_farm.compose.yamltree import Map, Override, Reset, Seq, parse_documents, scalar_text
from compose_farm.errors import ComposeFileError, Problem

Loc = tuple[str | int, ...]

__all__ = ["ComposeDocument", "Loc", "dotted", "kind", "parse_document", "scalar_text"]


@dataclass(frozen=True)
class ComposeDocument:
    """The interpolated content of one compose file; ``data`` remembers each key's line."""

    path: Path
    data: Map = field(repr=False)
    warnings: tuple[str, ...] = ()

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc``, or of its nearest parent that has one."""
        return line_of(self.data, loc)

    def error(self, loc: Loc, message: str) -> ComposeFileError:
        """A ``ComposeFileError`` rendered as ``path:line: key: message``."""
        return error_at(self.data, loc, message)


def line_of(data: Any, loc: Loc) -> int | None:
    return where(data, loc)[1]


def where(data: Any, loc: Loc) -> tuple[Path | None, int | None]:
    """The file and line where ``loc`` (or its nearest parent) was written."""
    found: tuple[Path | None, int | None] = (None, None)
    node = data
    for part in loc:
        in_map = isinstance(node, Map) and isinstance(part, str) and part in node
        in_seq = isinstance(node, Seq) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_seq:
            found = node.where(part)
            node = node[part]
        else:
            if isinstance(node, Map | Seq) and found == (None, None):
                found = node.origin
            break
    if found == (None, None) and isinstance(data, Map | Seq):
        found = data.origin
    return found


def error_at(data: Any, loc: Loc, message: str) -> ComposeFileError:
    path, line = where(data, loc)
    return ComposeFileError(str(Problem(message, path, line, dotted(loc) or None)))


def dotted(loc: Loc) -> str:
    """``("services", "web", "ports", 0)`` -> ``services.web.ports[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def kind(value: Any) -> str:
    """How a message names what it found instead of what it wanted."""
    if value is None:
        return "empty"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a scalar ({scalar_text(value)!r})"


def parse_document(text: str, path: Path, variables: Mapping[str, str]) -> ComposeDocument:
    """Parse ``text`` read from ``path``: documents merged, strings interpolated."""
    documents = parse_documents(text, path)
    if not documents or documents == [{}]:
        raise ComposeFileError(f"{path}: empty compose file")
    for document in documents:
        if not isinstance(document, Map):
            raise ComposeFileError(f"{path}: the top level must be a mapping, not {kind(document)}")
    walker = _Walker(variables)
    interpolated = [walker.value(d, ()) for d in documents]
    data = merge_files(interpolated) if len(interpolated) > 1 else interpolated[0]
    return ComposeDocument(path, data, tuple(dict.fromkeys(walker.warnings)))


class _Walker:
    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = variables
        self.warnings: list[str] = []
        self.seen_unset: set[str] = set()

    def value(self, node: Any, loc: Loc, origin: tuple[Path, int] | None = None) -> Any:
        if isinstance(node, Map):
            out = Map(node.origin)
            for key, child in node.items():
                out.put(key, self.value(child, (*loc, key), node.where(key)), node.where(key))
            return out
        if isinstance(node, Seq):
            seq = Seq(node.origin)
            for index, child in enumerate(node):
                seq.add(self.value(child, (*loc, index), node.where(index)), node.where(index))
            return seq
        if isinstance(node, Reset):
            return Reset(self.value(node.value, loc, origin))
        if isinstance(node, Override):
            return Override(self.value(node.value, loc, origin))
        if isinstance(node, str) and "$" in node:
            return self._string(node, loc, origin)
        return node

    def _string(self, text: str, loc: Loc, origin: tuple[Path, int] | None) -> str:
        path, line = origin if origin is not None else (None, None)
        try:
            result = substitute(text, self.variables)
        except TemplateError as exc:
            raise ComposeFileError(str(Problem(str(exc), path, line, dotted(loc)))) from None
        for name in result.unset:
            if name not in self.seen_unset:
                self.seen_unset.add(name)
                self.warnings.append(str(Problem(unset_warning(name), path, line)))
        return result.value
