"""The files a project reads (compose/inputs.py): what drift fingerprints on the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compose_farm.compose.inputs import project_inputs


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def _stack(root: Path) -> Path:
    folder = root / "compose" / "web"
    (folder / "conf").mkdir(parents=True)
    (folder / "compose.yaml").write_text(
        "include:\n  - conf/db.yaml\n"
        "services:\n  app:\n    image: busybox\n    env_file: [app.env, ../shared.env]\n"
    )
    (folder / "conf" / "db.yaml").write_text("services:\n  db:\n    image: postgres\n")
    (folder / "app.env").write_text("A=1\n")
    (root / "compose" / "shared.env").write_text("B=2\n")
    return folder


def test_every_file_compose_reads_and_the_names_it_would(
    tmp_path: Path, env: dict[str, str]
) -> None:
    folder = _stack(tmp_path)
    found = project_inputs(tmp_path / "compose", "web", env)
    assert found is not None
    assert str(folder / "compose.yaml") in found
    assert str(folder / "conf" / "db.yaml") in found  # include
    assert str(folder / "app.env") in found  # env_file
    assert str(tmp_path / "compose" / "shared.env") in found  # env_file outside the folder
    assert str(folder / "compose.override.yaml") in found  # absent, watched
    assert str(folder / ".env") in found


def test_the_list_is_kept_until_a_file_changes_or_appears(
    tmp_path: Path, env: dict[str, str]
) -> None:
    folder = _stack(tmp_path)
    first = project_inputs(tmp_path / "compose", "web", env)
    (folder / "conf" / "db.yaml").write_text("services:\n  db:\n    image: postgres\n")
    assert project_inputs(tmp_path / "compose", "web", env) == first
    # an include added: the compose file changed, so the list is read again
    (folder / "extra.yaml").write_text("services:\n  cache:\n    image: redis\n")
    text = (
        (folder / "compose.yaml")
        .read_text()
        .replace("conf/db.yaml", "conf/db.yaml\n  - extra.yaml")
    )
    (folder / "compose.yaml").write_text(text)
    os.utime(folder / "compose.yaml", ns=(1, 1))  # whatever the clock says: size changed too
    again = project_inputs(tmp_path / "compose", "web", env)
    assert again is not None and str(folder / "extra.yaml") in again


def test_a_project_that_cannot_be_read_here_has_no_list(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert project_inputs(tmp_path / "nowhere", "web", env) is None
    folder = _stack(tmp_path)
    (folder / "compose.yaml").write_text("services: [unclosed\n")
    assert project_inputs(tmp_path / "compose", "web", env) is None


def test_a_fifo_among_the_files_is_never_read(tmp_path: Path, env: dict[str, str]) -> None:
    folder = _stack(tmp_path)
    os.mkfifo(folder / ".env")  # a read would wait for a writer that never comes
    assert project_inputs(tmp_path / "compose", "web", env) is None
