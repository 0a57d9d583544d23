"""Folder listings and what a sync or data move sends: the pure part (sync/manifest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compose_farm.sync.manifest import (
    NANOSECOND,
    Entry,
    changes,
    drift,
    human_bytes,
    is_excluded,
    listed_at,
    local_listing,
    parse_checksums,
    parse_listing,
    totals,
)


def f(size: int, mtime: int = 100) -> Entry:
    """A file entry; ``mtime`` in whole seconds."""
    return Entry("f", size, mtime * 1_000_000_000)


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("compose.yaml", [], False),
        (".git/config", [".git"], True),
        ("a/b/notes.bak", ["*.bak"], True),
        ("a/b/notes.bak.txt", ["*.bak"], False),
        ("data/cache/x", ["data/cache"], True),
        ("data/cache", ["data/cache"], True),
        ("data/cachex/y", ["data/cache"], False),
        ("other/data/cache/x", ["data/cache"], False),
        ("data", ["data/"], True),
    ],
)
def test_exclusion_patterns(path: str, patterns: list[str], expected: bool) -> None:
    assert is_excluded(path, patterns) is expected


def test_only_new_or_changed_files_are_sent() -> None:
    local = {"a": f(1), "b": f(2), "c": f(3, mtime=200), "d": Entry("d"), "d/e": f(4)}
    remote = {"a": f(1), "b": f(5), "c": f(3, mtime=100), "d": Entry("d")}
    todo = changes(local, remote, delete=False)
    assert todo.send == ("b", "c", "d/e")
    assert todo.bytes == 2 + 3 + 4
    assert todo.delete == ()


def test_files_only_on_the_destination_stay_unless_deleting() -> None:
    local = {"a": f(1)}
    remote = {"a": f(1), "old": Entry("d"), "old/x": f(9), "keep.bak": f(1)}
    assert not changes(local, remote, delete=False)
    todo = changes(local, remote, delete=True, exclude=["*.bak"])
    assert todo.send == ()
    assert todo.delete == ("old/x", "old")  # deepest first; the excluded file is kept


def test_a_path_whose_kind_changed_is_removed_then_sent() -> None:
    todo = changes({"x": Entry("d"), "x/y": f(1)}, {"x": f(7)}, delete=False)
    assert todo.delete == ("x",)
    assert todo.send == ("x", "x/y")


def test_host_to_host_copies_compare_nanoseconds() -> None:
    a = {"db": Entry("f", 8, 1700000000_100000000)}
    b = {"db": Entry("f", 8, 1700000000_200000000)}
    assert not changes(a, b, delete=True)  # the same second: a sync sends nothing
    assert changes(a, b, delete=True, precision=NANOSECOND).send == ("db",)


def test_links_compare_by_target() -> None:
    local = {"l": Entry("l", target="a")}
    assert not changes(local, {"l": Entry("l", target="a")}, delete=True)
    assert changes(local, {"l": Entry("l", target="b")}, delete=True).send == ("l",)


def test_parse_listing_of_find_printf() -> None:
    text = (
        "d 4096 1700000000.5\0sub\0\0"
        "f 12 1700000001.9\0sub/a b\nc.txt\0\0"
        "l 3 1700000002.0\0link\0sub\0"
    )
    listing = parse_listing(text)
    assert listing == {
        "sub": Entry("d"),
        "sub/a b\nc.txt": Entry("f", 12, 1700000001_900000000),
        "link": Entry("l", target="sub"),
    }
    assert totals(listing) == (1, 12)


def test_local_listing_matches_the_remote_form(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("hello")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "link").symlink_to("sub")
    os.utime(tmp_path / "sub" / "x.txt", (1700000000, 1700000000))
    listing = local_listing(tmp_path, [".git"])
    assert listing == {
        "sub": Entry("d"),
        "sub/x.txt": Entry("f", 5, 1700000000_000000000),
        "link": Entry("l", target="sub"),
    }
    assert local_listing(tmp_path / "missing") == {}


def test_parse_checksums_with_gnu_escapes() -> None:
    text = "aaa  ./plain\n\\bbb  ./new\\nline\n\\ccc  ./back\\\\slash\\\\n\n"
    assert parse_checksums("\n".join(text.splitlines()[:1])) == {"plain": "aaa"}
    assert parse_checksums(text) == {"plain": "aaa", "new\nline": "bbb", "back\\slash\\n": "ccc"}


def test_drift_names_each_kind_of_difference() -> None:
    local = {"compose.yaml": f(10), ".env": f(3), "same": f(1)}
    remote = {"compose.yaml": f(11), "same": f(1), "host-only": f(2), "x.bak": f(1)}
    found = drift(local, remote, ["*.bak"])
    assert found.changed == ("compose.yaml",)
    assert found.missing == (".env",)
    assert found.extra == ("host-only",)
    assert "changed: compose.yaml" in found.summary()
    assert not drift(local, local)
    assert drift(local, local).summary() == "in sync"


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (52_400_000, "52.4 MB")]
)
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_summaries() -> None:
    todo = changes({"a": f(1500), "b": f(1)}, {"c": f(1)}, delete=True)
    assert todo.summary() == "2 paths (1.5 kB) to send, 1 to delete"
    assert todo.summary(done=True) == "sent 2 paths (1.5 kB), deleted 1"
    assert changes({}, {}, delete=True).summary() == "nothing to send"


def test_the_folder_record_gives_the_hosts_clock() -> None:
    text = "d 0 1700000005.250000000\0.\0\0f 1 1700000000.0\0a\0\0"
    assert listed_at(text) == 1700000005_250000000
    assert parse_listing(text) == {"a": Entry("f", 1, 1700000000_000000000)}
    assert listed_at("") is None  # a missing folder lists as nothing
