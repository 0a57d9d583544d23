"""Bind-mount sources and devices (resolution checked against ``docker compose config``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose_farm.compose.mounts import MountError, bind_mount_sources, device_paths

BASE = Path("/stacks/web")
HOME = "/home/me"

# (volumes entry, bind-mount source or None when it is not a bind mount)
VOLUMES: list[tuple[object, str | None]] = [
    ("./data:/data", "/stacks/web/data"),
    ("./data:/data:ro", "/stacks/web/data"),
    ("./a:/x:ro,z", "/stacks/web/a"),
    ("./a b:/ab", "/stacks/web/a b"),
    (".:/dot", "/stacks/web"),
    ("..:/up", "/stacks"),
    ("../other/x:/o", "/stacks/other/x"),
    (".hidden:/h", "/stacks/web/.hidden"),
    ("/abs:/x:ro", "/abs"),
    ("/abs/../y/:/x", "/y"),
    ("~/x:/y", "/home/me/x"),
    ("~:/y", "/home/me"),
    ("~user/x:/y", "/home/me/user/x"),
    ("named:/n", None),
    ("a.b:/c", None),
    ("data2:/d2:rw", None),
    ("/anon", None),
    ({"type": "bind", "source": "./long", "target": "/l"}, "/stacks/web/long"),
    ({"type": "bind", "source": "/abs/long", "target": "/al", "read_only": True}, "/abs/long"),
    ({"type": "volume", "source": "vol", "target": "/v"}, None),
    ({"type": "tmpfs", "target": "/t"}, None),
]


@pytest.mark.parametrize(("entry", "source"), VOLUMES, ids=[repr(e) for e, _ in VOLUMES])
def test_bind_mount_source(entry: object, source: str | None) -> None:
    expected = [Path(source)] if source is not None else []
    assert bind_mount_sources([entry], BASE, HOME) == expected


def test_order_kept_and_duplicates_dropped() -> None:
    volumes = ["/b:/1", "./a:/2", "vol:/3", "/b:/4"]
    assert bind_mount_sources(volumes, BASE, HOME) == [Path("/b"), Path("/stacks/web/a")]


def test_tilde_without_home_is_left_alone() -> None:
    assert bind_mount_sources(["~/x:/y"], BASE, None) == [Path("~/x")]


@pytest.mark.parametrize(
    ("volumes", "message"),
    [
        ([":/x"], "empty section between colons"),
        (["./a:/x:ro:z"], "too many colons"),
        ([{"type": "bind", "target": "/x"}], "needs a 'source'"),
        ([42], "expected a string or a mapping"),
        ("./a:/b", "must be a list"),
    ],
)
def test_volume_errors(volumes: object, message: str) -> None:
    with pytest.raises(MountError, match=message):
        bind_mount_sources(volumes, BASE, HOME)


DEVICES: list[tuple[object, str]] = [
    ("/dev/sda:/dev/xvda:rwm", "/dev/sda"),
    ("/dev/sda:/dev/xvda", "/dev/sda"),
    ("/dev/fuse", "/dev/fuse"),
    ({"source": "/dev/ttyUSB0", "target": "/dev/tty0", "permissions": "r"}, "/dev/ttyUSB0"),
    ("nvidia.com/gpu=all", "nvidia.com/gpu=all"),
]


@pytest.mark.parametrize(("entry", "path"), DEVICES, ids=[repr(e) for e, _ in DEVICES])
def test_device(entry: object, path: str) -> None:
    assert device_paths([entry]) == [path]


@pytest.mark.parametrize("devices", [[":/dev/x"], [{"target": "/dev/x"}], [1], "/dev/x"])
def test_device_errors(devices: object) -> None:
    with pytest.raises(MountError):
        device_paths(devices)
