"""Hiding ``.env`` values in text that is about to be shown.

Values from a stack's ``.env`` are treated as secrets: anything printed, logged
or sent to the web UI goes through ``mask`` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeAlias

MASK = "***"
MIN_SECRET_LENGTH = 4
# Deeper than this (words that are prefixes of prefixes of ...), the words are simply
# listed: the regular expression parser nests a level per branch point.
MAX_BRANCH_DEPTH = 100

_Node: TypeAlias = "dict[str | None, _Node]"  # a trie: character -> node; None marks a word's end


class _TooDeep(Exception):
    pass


def pattern_for(words: Iterable[str]) -> re.Pattern[str]:
    """One regular expression for any of ``words``, the longest at each position.

    The words share their prefixes (``abc(?:d|e)``), so matching at a position
    follows one branch per character instead of trying every word in turn: with
    the thousands of values of a large farm's ``.env`` files, a word list made
    each masked line cost thousands of comparisons per character.
    """
    listed = sorted({w for w in words if w}, key=len, reverse=True)
    trie: _Node = {}
    for word in listed:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[None] = {}
    try:
        return re.compile(_branches(trie, 0))
    except _TooDeep:
        return re.compile("|".join(re.escape(w) for w in listed))


def _branches(node: _Node, depth: int) -> str:
    if depth > MAX_BRANCH_DEPTH:
        raise _TooDeep
    parts = []
    for char, child in sorted(node.items(), key=lambda item: item[0] or ""):
        if char is None:
            continue
        literal = char
        while len(child) == 1 and None not in child:  # a chain without a choice: one literal
            ((next_char, child),) = child.items()
            literal += str(next_char)
        parts.append(re.escape(literal) + _branches(child, depth + 1))
    if not parts:
        return ""
    if len(parts) == 1 and None not in node:
        return parts[0]
    # A word ending here is the empty alternative, tried last: longer words win.
    return "(?:" + "|".join(parts) + (")?" if None in node else ")")


def masker(secrets: Iterable[str], *, min_length: int = MIN_SECRET_LENGTH) -> Callable[[str], str]:
    """A function replacing every occurrence of each secret (at least ``min_length`` long)
    with ``***``; build it once, use it for every line.

    Shorter values are left alone: masking ``1`` or ``yes`` everywhere would make
    output unreadable while hiding nothing worth hiding. Where secrets overlap,
    the longest one is masked whole.
    """
    wanted = {s for s in secrets if len(s) >= min_length}
    if not wanted:
        return lambda text: text
    pattern = pattern_for(wanted)
    return lambda text: pattern.sub(MASK, text)


def mask(text: str, secrets: Iterable[str], *, min_length: int = MIN_SECRET_LENGTH) -> str:
    """``text`` with the secrets replaced (see ``masker``)."""
    return masker(secrets, min_length=min_length)(text)
