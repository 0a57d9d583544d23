"""Config, state, hooks and byte pipes for sync, data moves and hooks (docs/sync-and-data.md)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from compose_farm.config import HookCommand, load_config
from compose_farm.errors import StateError
from compose_farm.executor.pipes import LocalPipe, relay
from compose_farm.operations.hooks import hook_environment
from compose_farm.state import StateStore, parse_state
from compose_farm.sync.manifest import changes, local_listing
from compose_farm.sync.stackdir import exclusions
from tests.support.cf import run_cf
from tests.support.config import make_config, write_config

# Stacks as a mapping, a farm-wide hook, a stack's own hooks as a string and a list.
FARM: dict[str, Any] = {
    "compose_dir": "/opt/stacks",
    "hosts": ("h1", "h2"),
    "stacks": {
        "web": "h1",
        "off": {"hosts": "h1", "sync": False},
        "db": {
            "hosts": "h2",
            "data": ["./pgdata", "/srv/db-extra"],
            "hooks": {
                "before_up": "test -s .env",
                "after_up": [{"run": "./notify.sh", "on": "local"}],
            },
        },
    },
    "sync": {"enabled": True, "exclude": [".git"]},
    "hooks": {"after_up": "farm-wide"},
}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, **FARM)


def test_stack_mappings_are_normalised(config_path: Path) -> None:
    cfg = load_config(config_path)
    db, web, off = cfg.stacks["db"], cfg.stacks["web"], cfg.stacks["off"]
    assert db.hosts == ("h2",) and web.hosts == ("h1",)
    assert (db.sync, web.sync, off.sync) == (True, True, False)
    assert db.data == (PurePosixPath("/opt/stacks/db/pgdata"), PurePosixPath("/srv/db-extra"))
    assert db.hooks["before_up"] == (HookCommand(run="test -s .env"),)
    # farm-wide hooks first, then the stack's own
    assert db.hooks["after_up"] == (
        HookCommand(run="farm-wide"),
        HookCommand(run="./notify.sh", on="local"),
    )
    assert web.hooks == {"after_up": (HookCommand(run="farm-wide"),)}


def test_sync_never_touches_data_folders_inside_the_stack(config_path: Path) -> None:
    cfg = load_config(config_path)
    # /srv/db-extra is outside the folder
    assert exclusions(cfg, "db") == [".git", ".cf-backup", "pgdata"]
    assert exclusions(cfg, "web") == [".git", ".cf-backup"]


def test_sync_never_sends_a_cf_backup_folder(tmp_path: Path) -> None:
    """Older versions kept the editors' backups (old .env files) in the stack folder."""
    cfg = make_config(tmp_path, **{**FARM, "compose_dir": tmp_path / "stacks"})
    folder = tmp_path / "stacks" / "web"
    for relative in (".cf-backup/.env.20240101-000000.123456", "sub/.cf-backup/x", "keep.txt"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text("SECRET=old\n")

    listed = local_listing(folder, exclusions(cfg, "web"))
    todo = changes(listed, {}, delete=False, exclude=exclusions(cfg, "web"))

    assert sorted(listed) == ["keep.txt", "sub"]
    assert todo.send == ("keep.txt", "sub")


def test_hook_environment(config_path: Path) -> None:
    cfg = load_config(config_path)
    env = hook_environment(cfg, "before_migrate", "db", "h2", "h1")
    assert env == {
        "CF_EVENT": "before_migrate",
        "CF_STACK": "db",
        "CF_HOST": "h2",
        "CF_STACK_DIR": "/opt/stacks/db",
        "CF_OLD_HOST": "h1",
    }
    assert "CF_OLD_HOST" not in hook_environment(cfg, "after_up", "db", "h2", None)


def test_state_keeps_data_copies_through_placement_changes(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "compose-farm-state.yaml")
    store.update("db", ["h2"])
    store.modify(lambda s: s.with_data_left("db", ["h1"]))
    store.update("db", ["h1"])  # a placement change keeps the record
    store.replace(parse_state("deployed: {db: h1, web: h2}\n", store.path))  # so does refresh
    assert store.read().data_left_on("db") == ("h1",)
    assert "data_left:\n  db:\n  - h1\n" in store.path.read_text()
    store.modify(lambda s: s.with_data_left("db", []))
    assert "data_left" not in store.path.read_text()


def test_state_with_a_bad_data_left_entry_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"data_left\.db"):
        parse_state("deployed: {}\ndata_left: {db: {x: 1}}\n", tmp_path / "s.yaml")


def test_relay_streams_between_two_processes(tmp_path: Path) -> None:
    target = tmp_path / "copy.bin"

    async def main() -> tuple[int, int | None, int | None]:
        async with (
            LocalPipe.open("a", "head -c 3000000 /dev/zero") as source,
            LocalPipe.open("b", f"cat > {target}") as destination,
        ):
            src, dst, sent = await relay(source, destination)
            return sent, src.exit_status, dst.exit_status

    assert asyncio.run(main()) == (3_000_000, 0, 0)
    assert target.stat().st_size == 3_000_000


def test_relay_reports_a_failing_destination() -> None:
    async def main() -> str:
        async with (
            LocalPipe.open("a", "head -c 3000000 /dev/zero") as source,
            LocalPipe.open("b", "echo 'disk full' >&2; exit 3") as destination,
        ):
            _src, dst, _sent = await relay(source, destination)
            return dst.why()

    assert asyncio.run(main()) == "exit status 3 on b: disk full"


def test_relay_feeds_the_source_while_it_writes() -> None:
    names = textwrap.dedent("x\n" * 200_000).encode()  # more than a pipe buffer

    async def main() -> int:
        async with (
            LocalPipe.open("a", "cat") as source,
            LocalPipe.open("b", "cat > /dev/null") as destination,
        ):
            _src, _dst, sent = await relay(source, destination, names)
            return sent

    assert asyncio.run(main()) == len(names)


def test_config_show_json_lists_each_stacks_sync_data_and_hooks(config_path: Path) -> None:
    done = run_cf("config", "show", "--json", "-c", str(config_path))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["stacks"]["db"] == ["h2"]  # the shape scripts already read is unchanged
    assert shown["sync"]["enabled"] is True and shown["sync"]["exclude"] == [".git"]
    db = shown["stack_options"]["db"]
    assert db["data"] == ["/opt/stacks/db/pgdata", "/srv/db-extra"]
    assert db["hooks"]["after_up"] == [
        {"run": "farm-wide", "on": "host"},
        {"run": "./notify.sh", "on": "local"},
    ]
    assert shown["stack_options"]["off"]["sync"] is False
