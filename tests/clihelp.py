"""Kept for tests written against this path: the launcher is ``tests.support.cf``."""

from tests.support.cf import run_cf

__all__ = ["run_cf"]
