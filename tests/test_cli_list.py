"""``cf list``, ``cf --version``, and what ``cf --help`` must not import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compose_farm import __version__
from tests.support.cf import run_cf
from tests.support.config import write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        hosts={"nuc": "10.0.0.1", "hp": "10.0.0.2"},
        stacks={"plex": "nuc", "dozzle": "all", "web": ["nuc", "hp"], "grafana": "hp"},
    )


def rows(output: str) -> list[list[str]]:
    return [line.replace(",", " ").split() for line in output.splitlines() if line.strip()]


def test_list_is_a_table_of_stacks_and_hosts(config: Path) -> None:
    result = run_cf("list", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == [
        ["STACK", "HOSTS", "PAUSED", "ON"],
        ["plex", "nuc"],
        ["dozzle", "all"],
        ["web", "nuc", "hp"],
        ["grafana", "hp"],
    ]


def test_list_host_matches_all_and_lists(config: Path) -> None:
    result = run_cf("list", "-c", str(config), "--host", "hp")
    assert result.returncode == 0, result.stderr
    assert [r[0] for r in rows(result.stdout)[1:]] == ["dozzle", "web", "grafana"]
    short = run_cf("list", "-c", str(config), "-H", "nuc")
    assert [r[0] for r in rows(short.stdout)[1:]] == ["plex", "dozzle", "web"]


def test_list_json(config: Path) -> None:
    result = run_cf("list", "-c", str(config), "--json", "--host", "hp")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"stack": "dozzle", "hosts": ["nuc", "hp"], "all_hosts": True, "paused": []},
        {"stack": "web", "hosts": ["nuc", "hp"], "all_hosts": False, "paused": []},
        {"stack": "grafana", "hosts": ["hp"], "all_hosts": False, "paused": []},
    ]
    everything = json.loads(run_cf("list", "-c", str(config), "--json").stdout)
    assert [s["stack"] for s in everything] == ["plex", "dozzle", "web", "grafana"]


def test_list_says_where_a_stack_is_paused(config: Path) -> None:
    state = config.with_name("compose-farm-state.yaml")
    state.write_text("version: 1\ndeployed:\n  plex: nuc\npaused:\n  web: [hp]\n  grafana: hp\n")
    result = run_cf("list", "-c", str(config))
    as_json = json.loads(run_cf("list", "-c", str(config), "--json").stdout)

    assert result.returncode == 0, result.stderr
    assert rows(result.stdout)[1:] == [
        ["plex", "nuc"],
        ["dozzle", "all"],
        ["web", "nuc", "hp", "hp"],
        ["grafana", "hp", "hp"],
    ]
    assert {s["stack"]: s["paused"] for s in as_json} == {
        "plex": [],
        "dozzle": [],
        "web": ["hp"],
        "grafana": ["hp"],
    }


def test_list_unknown_host_is_a_usage_error(config: Path) -> None:
    result = run_cf("list", "-c", str(config), "--host", "nope")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown host 'nope'" in result.stderr and "known hosts: nuc, hp" in result.stderr
    assert result.stdout == ""


def test_version() -> None:
    for flag in ("--version", "-V"):
        result = run_cf(flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"compose-farm {__version__}\n"


HEAVY = ("pydantic", "asyncssh", "fastapi", "rich.table")
IMPORTS_AFTER = textwrap.dedent(
    """
    import json, sys
    from compose_farm.cli.app import main

    sys.argv = ["cf", *sys.argv[1:]]
    try:
        main()
    except SystemExit:
        pass
    sys.stderr.write(json.dumps(sorted(sys.modules)))
    """
)


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--version"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    """``cf --help`` must stay fast: no SSH library, no Pydantic, no web app, no Rich tables.

    (A command's own help, ``cf up --help``, does import Pydantic: Typer 0.29
    builds a Pydantic adapter for each parameter of the command it parses.)
    """
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: cf" in result.stdout or "compose-farm" in result.stdout
    modules = set(json.loads(result.stderr))
    assert "compose_farm.cli.root" in modules  # the whole CLI was built
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert sorted(heavy) == []
