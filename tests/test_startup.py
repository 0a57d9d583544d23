"""Start-up shortcuts: which command lines open connections early, and the liboqs check."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose_farm.cli import early
from compose_farm.ssh import lib as sshlib


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["ps"], ("ps", {}, [])),
        (["ps", "--json", "-a", "web", "db"], ("ps", {}, ["web", "db"])),
        (["ps", "-c", "f.yaml", "-H", "h1"], ("ps", {"config": "f.yaml", "host": "h1"}, [])),
        (["ps", "--config=f.yaml", "--host", "h1"], ("ps", {"config": "f.yaml", "host": "h1"}, [])),
        (["apply", "--yes", "-n", "--full", "-c", "f.yaml"], ("apply", {"config": "f.yaml"}, [])),
        (["apply", "--prune-data", "-y"], ("apply", {}, [])),
    ],
)
def test_ps_and_apply_command_lines_are_recognised(
    argv: list[str], parsed: tuple[str, dict[str, str], list[str]]
) -> None:
    assert early.parse(argv) == parsed


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["up", "--all"],
        ["-v", "ps"],
        ["ps", "--help"],
        ["ps", "-aH", "h1"],
        ["ps", "-cf.yaml"],
        ["ps", "-c"],
        ["ps", "-c", "a.yaml", "-c", "b.yaml"],
        ["ps", "--", "web"],
        ["ps", "--json=yes"],
        ["apply", "web"],
        ["apply", "--host", "h1"],
    ],
)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert early.parse(argv) is None


def test_liboqs_is_looked_for_when_a_file_may_be_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(b"libc.so.6\0libnettle.so.8\0")
    monkeypatch.setattr(sshlib, "_LINKER_CACHE", cache)
    monkeypatch.setattr(sshlib, "_LIB_ROOTS", ())
    monkeypatch.delenv("LIBRARY_PATH", raising=False)
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert not sshlib.liboqs_may_be_installed()

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "liboqs.so").touch()
    monkeypatch.setenv("LD_LIBRARY_PATH", str(lib))
    assert sshlib.liboqs_may_be_installed()

    monkeypatch.delenv("LD_LIBRARY_PATH")
    cache.write_bytes(b"libc.so.6\0liboqs.so.7\0")
    assert sshlib.liboqs_may_be_installed()

    cache.unlink()
    assert sshlib.liboqs_may_be_installed()
