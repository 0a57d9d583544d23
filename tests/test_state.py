"""The state file: format, normalisation, corruption handling, atomic and locked writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compose_farm.errors import StateError
from compose_farm.state import State, StateStore, parse_state, render_state


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


def test_paused_stacks_round_trip_and_end_where_the_stack_is_recorded_again(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "compose-farm-state.yaml")
    store.update("web", ["h1", "h2"])
    store.modify(lambda s: s.with_hosts("web", ["h2"]).with_paused("web", ["h1"]))
    store.modify(lambda s: s.with_paused("db", ["h3"]))

    text = store.path.read_text()
    assert text == ("version: 1\ndeployed:\n  web: h2\npaused:\n  db:\n  - h3\n  web:\n  - h1\n")
    assert parse_state(text, store.path) == store.read()
    odd = State({}, {}, {"true": ("h1",)})  # a name YAML would read as a boolean: quoted
    assert parse_state(render_state(odd), store.path) == odd

    store.update("web", ["h2", "h1"])  # `cf up`: recorded on h1 again, no longer paused there
    assert store.read().paused_on("web") == ()
    assert store.read().paused_on("db") == ("h3",)
    assert store.read().resumed("db").paused == {}
    store.modify(lambda s: s.without("db"))
    assert store.read().paused == {}


def test_a_refresh_keeps_pauses_but_where_the_stack_runs_again(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "compose-farm-state.yaml")
    store.modify(lambda s: s.with_paused("web", ["h1"]).with_paused("db", ["h2"]))

    store.replace(State({"web": ("h1",)}))  # someone started web by hand on h1

    assert store.read().paused == {"db": ("h2",)}


@pytest.mark.parametrize("commit", ["a" * 40, "1" * 40, "12e4" + "0" * 36, "b" * 64])
def test_the_applied_commit_round_trips_beside_pauses_and_data_copies(
    tmp_path: Path, commit: str
) -> None:
    store = StateStore(tmp_path / "compose-farm-state.yaml")
    store.update("web", ["h1"])
    store.modify(lambda s: s.with_paused("web", ["h2"]).with_data_left("web", ["h3"]))
    store.modify(lambda s: s.with_commit(commit))
    assert f'commit: "{commit}"\n' in store.path.read_text()
    again = StateStore(store.path).read()
    assert again.commit == commit
    assert again.paused == {"web": ("h2",)} and again.data_left == {"web": ("h3",)}
    # every other change keeps it: placement, pauses, a refresh's replacement
    store.update("web", ["h2"])
    store.modify(lambda s: s.resumed("web").with_data_left("web", []))
    store.replace(State({"db": ("h1",)}))
    assert StateStore(store.path).read().commit == commit
    # a name YAML would quote takes the emitter's path; the commit survives it too
    store.update("yes", ["h1"])
    assert StateStore(store.path).read().commit == commit


@pytest.mark.parametrize("value", ["abc", "12345", "A" * 40, "g" * 40])
def test_a_commit_that_is_no_commit_id_is_reported(tmp_path: Path, value: str) -> None:
    path = tmp_path / "compose-farm-state.yaml"
    path.write_text(f"version: 1\ndeployed: {{}}\ncommit: {value}\n")
    with pytest.raises(StateError, match="commit: expected a git commit id"):
        StateStore(path).read()
