"""Validation of the names that end up in paths, URLs and remote commands.

Stack, host and service names are used as folder names and passed to remote
shells (always quoted). Rejecting anything unusual up front means a hostile or
mistyped name is stopped before it reaches a path join or a command line.
"""

from __future__ import annotations

import re

# Compose's own rule for project and service names, widened with dots and
# uppercase for folder names people already have. No slash, no space, no
# shell metacharacter, never starting with '.' or '-'.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

RESERVED_HOST_NAMES = frozenset({"all"})


def name_problem(name: str) -> str | None:
    """Return why ``name`` is not a safe name, or ``None`` when it is."""
    if not name:
        return "is empty"
    if ".." in name:
        return "contains '..'"
    if not _NAME.fullmatch(name):
        return (
            "is not a safe name: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (no slashes, spaces or shell characters)"
        )
    return None


def is_safe_name(name: str) -> bool:
    """True when ``name`` may be used as a stack, host or service name."""
    return name_problem(name) is None
