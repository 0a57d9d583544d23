"""Docs stay honest: every CLI command is in the README, and help is fast to import."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from compose_farm.cli.app import app

README = (Path(__file__).parent.parent / "README.md").read_text()


def command_names(group: typer.Typer, prefix: str = "cf") -> list[str]:
    """Every command path, e.g. ``cf up`` and ``cf config show``."""
    names = [
        f"{prefix} {c.name or (c.callback.__name__ if c.callback else '')}"
        for c in group.registered_commands
    ]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        names += command_names(sub.typer_instance, f"{prefix} {sub.name}")
    return names


def test_every_command_is_in_the_readme() -> None:
    names = command_names(app)
    assert len(names) >= 25
    missing = [n for n in names if not re.search(rf"`{re.escape(n)}(\s|`)", README)]
    assert not missing, f"commands missing from README.md: {missing}"


def test_readme_starts_with_the_two_setup_commands() -> None:
    first_block = README.split("```", 2)[1]
    assert "scripts/demo" in first_block and "scripts/test" in first_block


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "scripts/test" in ci
