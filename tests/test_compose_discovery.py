"""Compose file discovery: Compose's four default names, in Compose's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose_farm.compose import COMPOSE_FILE_NAMES, find_compose_file, list_stack_dirs
from compose_farm.errors import ComposeFileError

# (files present in the stack folder, the one that wins)
ORDER: list[tuple[list[str], str]] = [
    (["compose.yaml"], "compose.yaml"),
    (["compose.yml"], "compose.yml"),
    (["docker-compose.yml"], "docker-compose.yml"),
    (["docker-compose.yaml"], "docker-compose.yaml"),
    (list(COMPOSE_FILE_NAMES), "compose.yaml"),
    (["docker-compose.yaml", "docker-compose.yml", "compose.yml"], "compose.yml"),
    (["docker-compose.yaml", "docker-compose.yml"], "docker-compose.yml"),
    (["docker-compose.yaml", "compose.yaml"], "compose.yaml"),
    (["compose.yml", "docker-compose.yml"], "compose.yml"),
]


@pytest.mark.parametrize(("present", "winner"), ORDER)
def test_first_match_wins(tmp_path: Path, present: list[str], winner: str) -> None:
    (tmp_path / "web").mkdir()
    for name in present:
        (tmp_path / "web" / name).write_text("services: {}\n", encoding="utf-8")
    assert find_compose_file(tmp_path, "web") == tmp_path / "web" / winner


def test_names_are_composes_order() -> None:
    assert COMPOSE_FILE_NAMES == (
        "compose.yaml",
        "compose.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
    )


def test_a_directory_named_like_a_compose_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "web" / "compose.yaml").mkdir(parents=True)
    (tmp_path / "web" / "compose.yml").write_text("services: {}\n", encoding="utf-8")
    assert find_compose_file(tmp_path, "web") == tmp_path / "web" / "compose.yml"


def test_no_compose_file_names_folder_and_names(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "compose.yaml.bak").write_text("", encoding="utf-8")
    with pytest.raises(ComposeFileError) as raised:
        find_compose_file(tmp_path, "web")
    message = str(raised.value)
    assert str(tmp_path / "web") in message
    assert all(name in message for name in COMPOSE_FILE_NAMES)


def test_missing_stack_folder(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileError, match="stack folder not found") as raised:
        find_compose_file(tmp_path, "nope")
    assert str(tmp_path / "nope") in str(raised.value)


def test_list_stack_dirs(tmp_path: Path) -> None:
    for stack, name in [("b", "compose.yaml"), ("a", "docker-compose.yml"), ("c", "notes.txt")]:
        (tmp_path / stack).mkdir()
        (tmp_path / stack / name).write_text("", encoding="utf-8")
    (tmp_path / "compose.yaml").write_text("", encoding="utf-8")
    assert list_stack_dirs(tmp_path) == ["a", "b"]


def test_list_stack_dirs_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileError, match="compose folder not found"):
        list_stack_dirs(tmp_path / "nope")
