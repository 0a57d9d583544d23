"""Commands are values; their shell form quotes everything."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

import pytest

from compose_farm.executor import Command, Script, compose
from compose_farm.operations.preflight import Requirements, parse_missing, preflight_script

HOSTILE = ["a b", "x;touch /tmp/cf-pwned", "$(touch /tmp/cf-pwned)", "`id`", "'", '"', "\\", "*"]


def test_compose_command_shell_form() -> None:
    cmd = compose(PurePosixPath("/opt/compose/plex"), "up", "-d")
    assert cmd.shell() == "cd /opt/compose/plex && exec docker compose up -d"


@pytest.mark.parametrize("value", HOSTILE)
def test_every_argument_reaches_the_program_verbatim(value: str, tmp_path: PurePosixPath) -> None:
    cmd = Command(argv=("printf", "%s\\n", value), cwd=PurePosixPath(str(tmp_path)))
    out = subprocess.run(["sh", "-c", cmd.shell()], capture_output=True, text=True, check=True)
    assert out.stdout == value + "\n"


@pytest.mark.parametrize("value", HOSTILE)
def test_script_arguments_cannot_change_the_program(value: str) -> None:
    script = Script('printf "%s|" "$@"', (value, "second"))
    out = subprocess.run(["sh", "-c", script.shell()], capture_output=True, text=True, check=True)
    assert out.stdout == f"{value}|second|"


def test_env_values_are_quoted_and_hidden_from_display() -> None:
    cmd = Command(argv=("sh", "-c", 'printf %s "$TOKEN"'), env={"TOKEN": "s3cr3t; rm -rf /"})
    out = subprocess.run(["sh", "-c", cmd.shell()], capture_output=True, text=True, check=True)
    assert out.stdout == "s3cr3t; rm -rf /"
    assert "s3cr3t" not in cmd.display()


def test_preflight_reports_only_what_is_missing(tmp_path: PurePosixPath) -> None:
    stack = PurePosixPath(str(tmp_path)) / "plex"
    subprocess.run(["mkdir", "-p", str(stack / "data")], check=True)
    (open(str(stack / "compose.yaml"), "w")).close()
    needs = Requirements(
        mounts=(str(stack / "data"), str(stack / "no such; dir")),
        devices=("/dev/null", "/dev/cf-missing"),
    )
    script = preflight_script(stack, needs)
    out = subprocess.run(["sh", "-c", script.shell()], capture_output=True, text=True, check=True)
    missing = parse_missing(out.stdout)
    assert [(m.kind, m.value) for m in missing] == [
        ("mount", str(stack / "no such; dir")),
        ("device", "/dev/cf-missing"),
    ]
    empty = preflight_script(PurePosixPath(str(tmp_path)) / "nothing", Requirements())
    out = subprocess.run(["sh", "-c", empty.shell()], capture_output=True, text=True, check=True)
    assert [m.kind for m in parse_missing(out.stdout)] == ["compose"]
