"""``cf config``: init, path, symlink and edit, run as a user runs them (a real ``cf`` process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.cf import CfRun, run_cf

GOOD = """\
compose_dir: /opt/compose
hosts: {nuc: 10.0.0.1}
stacks: {plex: nuc}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user with no config anywhere: HOME and XDG_CONFIG_HOME inside the test's folder."""
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "CF_CONFIG": "",
        "VISUAL": "",
        "EDITOR": "",
    }


def in_xdg(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "compose-farm" / "compose-farm.yaml"


def assert_one_line_error(result: CfRun, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    for word in words:
        assert word in result.stderr, f"{word!r} missing from: {result.stderr}"


# ---------------------------------------------------------------- init


def test_init_writes_a_config_that_validates(tmp_path: Path, env: dict[str, str]) -> None:
    """Folders that are not safe names are skipped (and said so), names YAML would read
    as something else are quoted, and a relative --compose-dir is made absolute."""
    stacks = tmp_path / "stacks"
    for name in ["plex", "my app", "true", "null", "2048", ".hidden", "no-compose-file"]:
        (stacks / name).mkdir(parents=True)
        if name != "no-compose-file":
            (stacks / name / "compose.yaml").write_text("services: {}\n")
    config = tmp_path / "cf.yaml"

    result = run_cf("config", "init", "-c", str(config), "--compose-dir", "stacks", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Skipped folder 'my app': the stack name is not a safe name" in result.stderr
    assert "Skipped folder '.hidden'" in result.stderr
    assert "no-compose-file" not in result.stderr
    assert result.stdout.startswith(f"Wrote {config} (4 stacks found in {stacks})")

    checked = run_cf("config", "validate", "-c", str(config))
    assert checked.returncode == 0, checked.stderr
    shown = json.loads(run_cf("config", "show", "--json", "-c", str(config)).stdout)
    assert shown["compose_dir"] == str(stacks)
    assert shown["stacks"] == {
        "2048": ["local"],
        "null": ["local"],
        "plex": ["local"],
        "true": ["local"],
    }


def test_init_refuses_to_overwrite_and_says_where_it_cannot_write(env: dict[str, str]) -> None:
    result = run_cf("config", "init", env=env)
    assert result.returncode == 0, result.stderr
    assert in_xdg(env).is_file()
    assert_one_line_error(run_cf("config", "init", env=env), "already exists", "--force")
    unwritable = {**env, "XDG_CONFIG_HOME": "/proc/nope"}
    assert_one_line_error(
        run_cf("config", "init", env=unwritable),
        "/proc/nope/compose-farm/compose-farm.yaml: cannot write the config",
        "set XDG_CONFIG_HOME to a folder you can write",
    )


# ---------------------------------------------------------------- path


def test_path_follows_the_search_order(tmp_path: Path, env: dict[str, str]) -> None:
    here = tmp_path / "work"
    here.mkdir()

    def path(*args: str, **extra: str) -> str:
        result = run_cf("config", "path", *args, env={**env, **extra}, cwd=here)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    missing = run_cf("config", "path", env=env, cwd=here)
    assert_one_line_error(missing, "no config file found", str(in_xdg(env)))
    in_xdg(env).parent.mkdir(parents=True)
    in_xdg(env).write_text(GOOD)
    assert path() == str(in_xdg(env))
    (here / "compose-farm.yaml").write_text(GOOD)
    assert path() == str(here.resolve() / "compose-farm.yaml")
    assert path(CF_CONFIG="/x/env.yaml") == "/x/env.yaml"
    assert path("-c", "/y/flag.yaml", CF_CONFIG="/x/env.yaml") == "/y/flag.yaml"


# ---------------------------------------------------------------- symlink


def test_symlink_links_and_replaces_only_links(tmp_path: Path, env: dict[str, str]) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(GOOD)
    second.write_text(GOOD)
    link = in_xdg(env)

    assert run_cf("config", "symlink", str(first), env=env).returncode == 0
    assert link.is_symlink() and link.resolve() == first
    assert run_cf("config", "path", env=env, cwd=tmp_path / "xdg").stdout.strip() == str(link)
    again = run_cf("config", "symlink", str(first), env=env)
    assert again.returncode == 0 and "already points to" in again.stdout
    assert_one_line_error(run_cf("config", "symlink", str(second), env=env), "--force")
    assert run_cf("config", "symlink", "--force", str(second), env=env).returncode == 0
    assert link.resolve() == second

    link.unlink()
    link.write_text("# my own config\n")
    refused = run_cf("config", "symlink", "--force", str(first), env=env)
    assert_one_line_error(refused, str(link), "not a link", "never removes it")
    assert not link.is_symlink() and link.read_text() == "# my own config\n"


def test_symlink_never_replaces_the_config_with_a_link_to_itself(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = tmp_path / "sl" / "self.yaml"
    config.parent.mkdir()
    config.write_text(GOOD)
    result = run_cf(
        "config",
        "symlink",
        "--force",
        "sl/self.yaml",
        env={**env, "CF_CONFIG": str(config)},
        cwd=tmp_path,
    )
    assert_one_line_error(result, "is the config file itself", "point to itself")
    assert not config.is_symlink() and config.read_text() == GOOD


def test_symlink_help_says_files_are_never_removed() -> None:
    help_text = " ".join(run_cf("config", "symlink", "--help").stdout.split())
    assert "a regular file or a folder there is never removed" in help_text
    assert "--force Replace an existing link (never a file or folder)" in help_text


@pytest.mark.parametrize(
    ("xdg", "reason"), [("/proc/nope", "No such file or directory"), ("a-file", "Not a directory")]
)
def test_symlink_where_no_link_can_be_made(
    tmp_path: Path, env: dict[str, str], xdg: str, reason: str
) -> None:
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "cf.yaml"
    config.write_text(GOOD)
    where = Path(xdg) if xdg.startswith("/") else tmp_path / xdg
    result = run_cf("config", "symlink", str(config), env={**env, "XDG_CONFIG_HOME": str(where)})
    assert_one_line_error(
        result,
        f"{where}/compose-farm/compose-farm.yaml: cannot create the link: {reason}",
        "set XDG_CONFIG_HOME to a folder you can write",
    )
    assert len(result.stderr.splitlines()) == 2  # the error and its hint


# ---------------------------------------------------------------- edit


def test_edit_runs_the_editor_then_validates(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "cf.yaml"
    config.write_text(GOOD)
    result = run_cf("config", "edit", "-c", str(config), env={**env, "EDITOR": "true"})
    assert result.returncode == 0, result.stderr
    assert f"{config}: valid (1 hosts, 1 stacks)" in result.stdout
    failed = run_cf("config", "edit", "-c", str(config), env={**env, "EDITOR": "false"})
    assert_one_line_error(failed, "the editor exited with status 1")


@pytest.mark.parametrize(
    ("variable", "editor", "words"),
    [
        ("EDITOR", 'ed "', ["$EDITOR is not a valid command line", "No closing quotation"]),
        ("VISUAL", 'ed "', ["$VISUAL is not a valid command line", "set VISUAL to"]),
        ("EDITOR", "   ", ["$EDITOR is blank"]),
        ("EDITOR", "no-such-editor-here", ["'no-such-editor-here' from $EDITOR not found"]),
        ("EDITOR", "{not-executable}", ["from $EDITOR: Permission denied", "executable"]),
    ],
)
def test_a_bad_editor_is_named(
    tmp_path: Path, env: dict[str, str], variable: str, editor: str, words: list[str]
) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    config = tmp_path / "cf.yaml"
    config.write_text(GOOD)
    editor = editor.replace("{not-executable}", str(script))
    result = run_cf("config", "edit", "-c", str(config), env={**env, variable: editor})
    assert_one_line_error(result, *words)
    assert config.read_text() == GOOD


# ---------------------------------------------------------------- the last resort


def test_an_unexpected_file_error_is_one_line_naming_the_file() -> None:
    """An OSError no command catches still ends as ``Error: FILE: reason``, exit 1."""
    program = textwrap.dedent(
        """
        import errno, sys
        from compose_farm.cli.app import main
        from compose_farm.cli.root import app

        @app.command("boom")
        def boom() -> None:
            raise PermissionError(errno.EACCES, "Permission denied", "/srv/farm/some.yaml")

        sys.argv = ["cf", "boom"]
        main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == "Error: /srv/farm/some.yaml: Permission denied\n"
