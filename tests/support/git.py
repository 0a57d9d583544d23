"""Real `git` for the tests of the farm from a repository (docs/git.md): one fixed
author, and no system-wide git config that could change what a command does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

AUTHOR = {
    "GIT_AUTHOR_NAME": "Ann Example",
    "GIT_AUTHOR_EMAIL": "ann@example.test",
    "GIT_COMMITTER_NAME": "Ann Example",
    "GIT_COMMITTER_EMAIL": "ann@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(where: Path, *args: str) -> str:
    """``git -C WHERE ARGS`` as ``AUTHOR``; its output, stripped (it must succeed)."""
    done = subprocess.run(
        ["git", "-C", str(where), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **AUTHOR},
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()
