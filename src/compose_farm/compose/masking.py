"""Hiding ``.env`` values in text that is about to be shown.

Values from a stack's ``.env`` are treated as secrets: anything printed, logged
or sent to the web UI goes through ``mask`` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

MASK = "***"
MIN_SECRET_LENGTH = 4


def masker(secrets: Iterable[str], *, min_length: int = MIN_SECRET_LENGTH) -> Callable[[str], str]:
    """A function replacing every occurrence of each secret (at least ``min_length`` long)
    with ``***``; build it once, use it for every line.

    Shorter values are left alone: masking ``1`` or ``yes`` everywhere would make
    output unreadable while hiding nothing worth hiding. Longer secrets are
    replaced first, so a secret that contains another is masked whole.
    """
    wanted = sorted({s for s in secrets if len(s) >= min_length}, key=len, reverse=True)
    if not wanted:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in wanted))
    return lambda text: pattern.sub(MASK, text)


def mask(text: str, secrets: Iterable[str], *, min_length: int = MIN_SECRET_LENGTH) -> str:
    """``text`` with the secrets replaced (see ``masker``)."""
    return masker(secrets, min_length=min_length)(text)
