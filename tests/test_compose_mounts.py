"""Volumes and devices (read as ``docker compose config`` v2.40 reads them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose_farm.compose.mounts import Mount, MountError, clean, parse_device, parse_volume

BASE = Path("/stacks/web")
HOME = "/home/me"

# (volumes entry, the mount Compose reads)
VOLUMES: list[tuple[object, Mount]] = [
    ("./data:/data", Mount("bind", "/data", "/stacks/web/data", create_host_path=True)),
    ("./data:/data:ro", Mount("bind", "/data", "/stacks/web/data", True, True)),
    ("./a:/x:ro,z", Mount("bind", "/x", "/stacks/web/a", True, True)),
    ("./a:/x:ro,rw", Mount("bind", "/x", "/stacks/web/a", False, True)),
    ("./a b:/ab", Mount("bind", "/ab", "/stacks/web/a b", create_host_path=True)),
    (".:/dot", Mount("bind", "/dot", "/stacks/web", create_host_path=True)),
    ("..:/up", Mount("bind", "/up", "/stacks", create_host_path=True)),
    ("../other/x:/o", Mount("bind", "/o", "/stacks/other/x", create_host_path=True)),
    (".hidden:/h", Mount("bind", "/h", "/stacks/web/.hidden", create_host_path=True)),
    ("/abs:/x:ro", Mount("bind", "/x", "/abs", True, True)),
    # absolute sources are kept as written; targets are cleaned
    ("/abs/../y/:/x//z/", Mount("bind", "/x/z", "/abs/../y/", create_host_path=True)),
    ("/a:ro", Mount("bind", "ro", "/a", create_host_path=True)),
    ("~/x:/y", Mount("bind", "/y", "/home/me/x", create_host_path=True)),
    ("~:/y", Mount("bind", "/y", "/home/me", create_host_path=True)),
    ("~user/x:/y", Mount("bind", "/y", "/home/me/user/x", create_host_path=True)),
    # a drive letter is a path on every system, as in Compose
    ("c:/d:/x", Mount("bind", "/x", "c:/d", create_host_path=True)),
    ("c:/x", Mount("volume", "c:/x")),
    ("named:/n", Mount("volume", "/n", "named")),
    ("a.b:/c", Mount("volume", "/c", "a.b")),
    ("data2:/d2:rw", Mount("volume", "/d2", "data2")),
    ("/anon", Mount("volume", "/anon")),
    ({"type": "bind", "source": "./long", "target": "/l"}, Mount("bind", "/l", "/stacks/web/long")),
    ({"type": "bind", "source": "", "target": "/l"}, Mount("bind", "/l", "/stacks/web")),
    ({"type": "bind", "source": "rel", "target": "/l"}, Mount("bind", "/l", "/stacks/web/rel")),
    (
        {"type": "bind", "source": "/abs/long", "target": "/al", "read_only": True},
        Mount("bind", "/al", "/abs/long", True),
    ),
    (
        {"type": "bind", "source": "/x", "target": "/y", "bind": {"create_host_path": True}},
        Mount("bind", "/y", "/x", create_host_path=True),
    ),
    ({"type": "volume", "source": "vol", "target": "/v"}, Mount("volume", "/v", "vol")),
    ({"type": "tmpfs", "target": "/t"}, Mount("tmpfs", "/t")),
]


@pytest.mark.parametrize(("entry", "mount"), VOLUMES, ids=[repr(e) for e, _ in VOLUMES])
def test_volume(entry: object, mount: Mount) -> None:
    assert parse_volume(entry, BASE, HOME) == mount


def test_tilde_without_home_is_left_alone() -> None:
    assert parse_volume("~/x:/y", BASE, None).source == "~/x"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (":/x", "empty section between colons"),
        ("./a:/x:ro:z", "too many colons"),
        ({"type": "bind", "target": "/x"}, "needs a 'source'"),
        ({"type": "bind", "source": "/x"}, "needs a 'target'"),
        ({"type": "Bind", "source": "/x", "target": "/y"}, "type must be one of"),
        (42, "expected a string or a mapping"),
    ],
)
def test_volume_errors(entry: object, message: str) -> None:
    with pytest.raises(MountError, match=message):
        parse_volume(entry, BASE, HOME)


DEVICES: list[tuple[object, tuple[str | None, str]]] = [
    ("/dev/sda:/dev/xvda:rwm", ("/dev/sda", "/dev/xvda")),
    ("/dev/sda:/dev/xvda", ("/dev/sda", "/dev/xvda")),
    ("/dev/fuse", ("/dev/fuse", "/dev/fuse")),
    ("/dev/a::r", ("/dev/a", "/dev/a")),
    (":/dev/a", (None, "/dev/a")),
    ("", (None, "")),
    ({"source": "/dev/ttyUSB0", "target": "/dev/tty0"}, ("/dev/ttyUSB0", "/dev/tty0")),
    ("nvidia.com/gpu=all", ("nvidia.com/gpu=all", "nvidia.com/gpu=all")),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "found"), DEVICES, ids=[repr(e) for e, _ in DEVICES])
def test_device(entry: object, found: tuple[str | None, str]) -> None:
    assert parse_device(entry) == found


@pytest.mark.parametrize("entry", ["/a:/b:r:x", {"source": "/dev/x"}, 1])
def test_device_errors(entry: object) -> None:
    with pytest.raises(MountError):
        parse_device(entry)


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("/a//b/../c/", "/a/c"), ("", "."), ("a/../..", ".."), ("/..", "/"), ("x/./y", "x/y")],
)
def test_clean_is_gos_path_clean(path: str, cleaned: str) -> None:
    assert clean(path) == cleaned
