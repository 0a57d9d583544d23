"""Compose variable interpolation: ``$VAR``, ``${VAR}``, defaults, alternatives, required.

The rules follow ``docker compose`` (compose-go), checked against the real binary:

* ``$$`` is a literal ``$``; a ``$`` not followed by a name or ``{`` stays as is.
* ``${VAR:-x}`` / ``${VAR-x}`` default when unset-or-empty / unset;
  ``${VAR:+x}`` / ``${VAR+x}`` alternative when set-and-non-empty / set;
  ``${VAR:?msg}`` / ``${VAR?msg}`` fail when unset-or-empty / unset.
* The text after the operator is itself a template (so defaults nest) and, as in
  Compose, it is always evaluated: an error or warning inside an unused default
  still counts.
* The end of ``${...}`` is found by counting every ``${`` against every ``}``,
  the same way Compose does (a ``$${`` inside a default also counts).
* An unset ``$VAR`` / ``${VAR}`` becomes an empty string and is reported, as
  Compose warns "The "VAR" variable is not set".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+?])(?P<word>.*))?", re.DOTALL)


class TemplateError(ValueError):
    """A template is malformed or a required variable is missing."""


@dataclass(frozen=True)
class Substitution:
    """The result of interpolating one string: its value and the unset names it used."""

    value: str
    unset: tuple[str, ...] = ()


def unset_warning(name: str) -> str:
    """The warning Compose prints for an unset variable."""
    return f'The "{name}" variable is not set. Defaulting to a blank string.'


def substitute(template: str, lookup: Mapping[str, str]) -> Substitution:
    """Interpolate ``template`` with values from ``lookup``; raise ``TemplateError`` if invalid."""
    unset: list[str] = []
    value = _Evaluator(lookup, unset).run(template)
    return Substitution(value, tuple(dict.fromkeys(unset)))


class _Evaluator:
    def __init__(self, lookup: Mapping[str, str], unset: list[str]) -> None:
        self._lookup = lookup
        self._unset = unset

    def run(self, text: str) -> str:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            dollar = text.find("$", i)
            if dollar < 0:
                out.append(text[i:])
                break
            out.append(text[i:dollar])
            nxt = text[dollar + 1 : dollar + 2]
            if nxt == "$":
                out.append("$")
                i = dollar + 2
            elif nxt == "{":
                close = _closing_brace(text, dollar + 2)
                if close < 0:
                    raise _invalid(text)
                out.append(self._braced(text[dollar + 2 : close], text))
                i = close + 1
            elif match := _NAME.match(text, dollar + 1):
                out.append(self._get(match[0]))
                i = match.end()
            else:
                out.append("$")
                i = dollar + 1
        return "".join(out)

    def _get(self, name: str) -> str:
        value = self._lookup.get(name)
        if value is None:
            self._unset.append(name)
            return ""
        return value

    def _braced(self, inner: str, template: str) -> str:
        match = _BRACED.fullmatch(inner)
        if match is None:
            raise _invalid(template)
        name, op = match["name"], match["op"]
        if op is None:
            return self._get(name)
        word = self.run(match["word"])
        value = self._lookup.get(name)
        # "present" means set for "-", "+", "?" and set-and-non-empty for ":-", ":+", ":?".
        present = bool(value) if op.startswith(":") else value is not None
        kind = op[-1]
        if kind == "+":
            return word if present else ""
        if present:
            return value or ""
        if kind == "-":
            return word
        detail = f": {word}" if word else ""
        raise TemplateError(f"required variable {name} is missing a value{detail}")


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``start``, or -1."""
    depth = 1
    i = start
    while i < len(text):
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        elif text.startswith("${", i):
            depth += 1
            i += 1
        i += 1
    return -1


def _invalid(template: str) -> TemplateError:
    return TemplateError(
        f"invalid interpolation format in {template!r}: you may need to escape any $ with another $"
    )
