"""Mistakes in the config as ``Problem`` values that name the file, the line and the key.

Pydantic's errors are read by their ``type``, ``ctx``, ``input`` and ``loc``
only, never by their message text, which Pydantic words as it likes from one
release to the next. A ``loc`` is a path through the validated models; it is
turned into a path through the user's document by keeping the parts that name
a key or an index there and skipping the rest (the tag of a union member, the
``address`` that ``nuc: 10.0.0.1`` stands for), so the key shown is one the
user wrote and the line is that key's line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_core import ErrorDetails

from compose_farm.errors import Problem
from compose_farm.yamlio import line_of

Loc = Sequence[str | int]


@dataclass(frozen=True)
class Locator:
    """Makes problems at model paths point at the user's document.

    ``stacks_key`` is the key the file uses for stacks (``services`` is an alias);
    models always say ``stacks``.
    """

    document: Any
    path: Path
    stacks_key: str = "stacks"

    def problem(self, message: str, loc: Loc, *, missing: bool = False) -> Problem:
        """``message`` at ``loc``; with ``missing``, the last part of ``loc`` is a key
        that should be there and is not."""
        if loc and loc[0] == "stacks":
            loc = [self.stacks_key, *loc[1:]]
        where = document_loc(self.document, loc, missing=missing)
        key = ".".join(str(part) for part in where)
        return Problem(message, self.path, line_of(self.document, where), key or None)


def document_loc(document: Any, loc: Loc, *, missing: bool = False) -> tuple[str | int, ...]:
    """The parts of ``loc`` that are keys and indexes in ``document``, in order.

    A part is kept when it names a child of the node reached so far: a key of a
    mapping, an index of a list. Any other part cannot be a place in the
    document, so it is skipped (a scalar has no children: everything under it
    is what a validator made of it). With ``missing``, a last part under a
    mapping is kept although absent: it is the key the user left out. (A part
    that is no place in the document but equals a key there would be taken for
    it; ``schema.py``'s one tag only ever stands under a list, where no string
    can match.)
    """
    kept: list[str | int] = []
    node = document
    for i, part in enumerate(loc):
        if isinstance(node, Mapping) and isinstance(part, str):
            if part in node:
                kept.append(part)
                node = node[part]
            elif missing and i == len(loc) - 1:
                kept.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            kept.append(part)
            node = node[part]
    return tuple(kept)


def pydantic_problems(errors: Iterable[ErrorDetails], at: Locator) -> list[Problem]:
    """One problem per distinct (place, message) among Pydantic's errors."""
    problems: list[Problem] = []
    for error in errors:
        problem = at.problem(message_for(error), error["loc"], missing=error["type"] == "missing")
        if problem not in problems:
            problems.append(problem)
    return problems


def shown(value: Any) -> str:
    """A value as the user wrote it in YAML, or what kind of thing it is."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


# What a value of the wrong type was expected to be, by error type.
_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _too_short(ctx: Mapping[str, Any]) -> str:
    least = ctx["min_length"]
    return "must not be empty" if least == 1 else f"must be at least {least} characters long"


def _number(value: Any) -> str:
    """A bound as written: ``0``, not ``0.0``, for a float field's ``gt=0``."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


# Messages for the other types this config's models raise, from the error's ``ctx``.
_FROM_CTX: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda ctx: "required key is missing",
    "extra_forbidden": lambda ctx: "unknown key",
    "string_too_short": _too_short,
    "greater_than": lambda ctx: f"must be greater than {_number(ctx['gt'])}",
    "greater_than_equal": lambda ctx: f"must be at least {_number(ctx['ge'])}",
    "less_than_equal": lambda ctx: f"must be at most {_number(ctx['le'])}",
    "literal_error": lambda ctx: f"must be {ctx['expected']}",
    # Raised by this package's own validators: their text is ours.
    "value_error": lambda ctx: str(ctx["error"]),
}

HANDLED_TYPES = frozenset(_EXPECTED) | frozenset(_FROM_CTX)


def message_for(error: ErrorDetails) -> str:
    """What to tell the user about one Pydantic error, chosen by its ``type``.

    A type this config's models do not raise falls back to Pydantic's own
    message: better some words than none.
    """
    kind = error["type"]
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {shown(error['input'])}"
    if kind in _FROM_CTX:
        return _FROM_CTX[kind](error.get("ctx", {}))
    return error["msg"]
