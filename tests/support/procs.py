"""Processes on the lab hosts, read from /proc (lab hosts share this machine's pid namespace)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def pids_where(match: Callable[[list[bytes], str], bool]) -> list[int]:
    """Pids whose (argv, working folder) satisfy ``match``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if match(argv, cwd):
            found.append(int(proc.name))
    return found
