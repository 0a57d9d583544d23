"""The state file: format, normalisation, corruption handling, atomic and locked writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compose_farm.errors import StateError
from compose_farm.state import State, StateStore, parse_state


def test_round_trip_and_normalisation(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "compose-farm-state.yaml")
    assert store.read() == State()
    store.update("web", ["h1", "h2"])
    store.update("plex", ["nuc"])
    assert store.path.read_text() == "version: 1\ndeployed:\n  plex: nuc\n  web:\n  - h1\n  - h2\n"
    assert store.read().deployed == {"plex": ("nuc",), "web": ("h1", "h2")}
    store.update("plex", [])
    assert "plex" not in store.read().deployed


def test_legacy_file_without_version(tmp_path: Path) -> None:
    state = parse_state("deployed:\n  plex: nuc\n  web: [a, b]\n", tmp_path / "s.yaml")
    assert state.hosts_of("plex") == ("nuc",) and state.hosts_of("web") == ("a", "b")
    assert state.hosts_of("nothing") == ()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("deployed: [\n", ["unreadable", "YAML syntax error"]),
        ("- a\n", ["expected a mapping"]),
        ("version: 1\ndeployed: 5\n", ["'deployed' must be a mapping"]),
        ("version: 1\ndeployed: {plex: 5}\n", ["deployed.plex"]),
        ("version: 1\ndeployed: {'../x': a}\n", ["bad stack name"]),
        ("version: 1\ndeployed:\n  plex: a\n  true: b\n", ["line 4: deployed.true", "a boolean"]),
        ("version: 1\ndata_left: {null: [a]}\n", ["data_left.null: key null is null"]),
        ("version: 1\nextra: 1\n", ["unknown keys: extra"]),
        ("version: 99\ndeployed: {}\n", ["version 99 is not supported"]),
    ],
)
def test_corrupt_state_is_reported_and_never_overwritten(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    path = tmp_path / "compose-farm-state.yaml"
    path.write_text(text)
    store = StateStore(path)
    for action in (
        store.read,
        lambda: store.update("plex", ["nuc"]),
        lambda: store.replace(State()),
    ):
        with pytest.raises(StateError) as caught:
            action()
        for word in words:
            assert word in str(caught.value)
        assert str(path) in str(caught.value)
    assert path.read_text() == text


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions; a full disk is simulated in the fault suite
        folder = tmp_path / "ro"
        folder.mkdir()
        store = StateStore(folder / "compose-farm-state.yaml")
        store.update("plex", ["nuc"])
        subprocess.run(["chattr", "+i", str(folder)], check=False)
        probe = folder / "probe"
        try:
            probe.write_text("x")
        except OSError:
            pass
        else:
            probe.unlink()
            subprocess.run(["chattr", "-i", str(folder)], check=False)
            pytest.skip("this filesystem cannot make a folder read-only for root")
        try:
            with pytest.raises(StateError, match="previous state file is intact"):
                store.update("web", ["a"])
            assert store.read().deployed == {"plex": ("nuc",)}
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        store = StateStore(folder / "compose-farm-state.yaml")
        store.update("plex", ["nuc"])
        folder.chmod(0o500)
        try:
            with pytest.raises(StateError, match="previous state file is intact"):
                store.update("web", ["a"])
        finally:
            folder.chmod(0o700)
        assert store.read().deployed == {"plex": ("nuc",)}


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from compose_farm.state import StateStore

    store = StateStore(Path(sys.argv[1]))
    prefix = sys.argv[2]
    sys.stdin.readline()  # start together
    for i in range(100):
        store.update(f"{prefix}-{i}", [f"h{i % 3}"])
    """
)


def test_two_processes_never_lose_updates(tmp_path: Path) -> None:
    path = tmp_path / "compose-farm-state.yaml"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), prefix],
            stdin=subprocess.PIPE,
            text=True,
        )
        for prefix in ("a", "b")
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    deployed = StateStore(path).read().deployed
    assert len(deployed) == 200
    assert deployed["a-7"] == ("h1",) and deployed["b-99"] == ("h0",)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".compose-farm-state")]
    assert leftovers == []
