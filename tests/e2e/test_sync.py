"""Synced stack folders (docs/sync-and-data.md, "Sync") on hosts that share no storage.

Each host of a ``PrivateFarm`` sees its own, initially empty, compose folder,
so a stack can only run there if cf sent its folder. Outcomes are read from the
hosts' engines and from the files as each host sees them, never only from cf's
output. Hosts h1..h3 (shared: nothing here breaks a host).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.support.cf import ok
from tests.support.farm import on
from tests.support.privatefarm import PrivateFarm, read_on
from tests.support.stacks import sleep_stack

HOSTS = ("h1", "h2", "h3")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS, kind=PrivateFarm)]


def env_stack(image: str, greeting: str) -> str:
    return sleep_stack(image, extra=f"    environment:\n      GREETING: {greeting}\n")


def tree(farm: PrivateFarm, host: str, stack: str) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (content, mtime in ns) of every file of ``host``'s copy of ``stack``."""
    root = farm.on_host(host, stack)
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def says_what(output: str, names: list[str]) -> bool:
    """A dry run names the files it would send (or remove), or at least counts them."""
    if all(name in output for name in names):
        return True
    n = len(names)
    return re.search(rf"\b{n} files?\b", output) is not None


def age(path: Path, seconds: float = 60) -> None:
    """Set ``path``'s modification time ``seconds`` in the past (as an older edit would)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


# --- the helper itself ---------------------------------------------------------------------


def test_private_folders_are_private(farm: PrivateFarm, lab: Lab) -> None:
    """The premise of this file: a file in h1's folder is not on h2 nor here, and h1's
    engine bind-mounts from h1's folder."""
    stack = farm.name("probe")
    (farm.on_host("h1", stack)).mkdir(parents=True)
    (farm.on_host("h1", stack, "marker")).write_text("only on h1\n")

    assert farm.read("h1", stack, "marker") == "only on h1\n"
    assert farm.read("h2", stack, "marker") is None
    assert not farm.local(stack, "marker").exists()  # cf's side does not see it either
    assert read_on(lab, "h1", str(farm.compose_dir / stack / "marker")) == "only on h1\n"

    done = lab.docker(
        "h1",
        "run",
        "--rm",
        "-v",
        f"{farm.host_path(stack)}:/mnt:ro",
        lab.image,
        "cat",
        "/mnt/marker",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "only on h1\n"
    on_h2 = lab.docker(
        "h2", "run", "--rm", "-v", f"{farm.host_path(stack)}:/mnt:ro", lab.image, "ls", "/mnt"
    )
    assert on_h2.returncode == 0, on_h2.stderr
    assert "marker" not in on_h2.stdout  # h2's engine sees h2's (empty) folder


# --- sync with up ----------------------------------------------------------------------------


def test_up_sends_the_folder_to_a_host_that_never_saw_it(farm: PrivateFarm) -> None:
    files = {
        "conf/app.conf": "level=1\n",
        ".env": "A=1\n",
        "conf/with space.txt": "spaces\n",
        "ünïcode-ß.txt": "utf-8 name\n",
        "-leading-dash": "dash\n",
        "scripts/run.sh": "#!/bin/sh\necho ran\n",
    }
    stack = farm.stack("fresh", "h1", files=files)
    farm.local(stack, "scripts/run.sh").chmod(0o755)
    assert not farm.exists("h1", stack)

    done = ok(farm.cf("up", stack))

    assert farm.on_engines() == {stack: on("h1")}, done
    for relative in ("compose.yaml", *files):
        assert farm.read("h1", stack, relative) == farm.local(stack, relative).read_text(), relative
        # Modification times and modes kept, so the next comparison finds nothing to send
        # and scripts stay runnable.
        local, remote = (
            farm.local(stack, relative).stat(),
            farm.on_host("h1", stack, relative).stat(),
        )
        assert int(remote.st_mtime) == int(local.st_mtime), relative
        assert oct(remote.st_mode) == oct(local.st_mode), relative
    for other in ("h2", "h3"):  # only the stack's host gets its folder
        assert not farm.exists(other, stack), other


def test_an_edit_reaches_the_host_on_the_next_up(farm: PrivateFarm) -> None:
    stack = farm.stack("edited", "h2", env_stack(farm.lab.image, "first"))
    age(farm.local(stack, "compose.yaml"))
    ok(farm.cf("up", stack))
    [container] = farm.containers(["h2"])
    assert "GREETING=first" in farm.inspect("h2", container.id, "{{json .Config.Env}}")

    compose = farm.local(stack, "compose.yaml")
    compose.write_text(env_stack(farm.lab.image, "second-edit"))
    done = ok(farm.cf("up", stack))

    assert farm.read("h2", stack, "compose.yaml") == compose.read_text(), done
    assert farm.on_engines() == {stack: on("h2")}, done
    [recreated] = farm.containers(["h2"])
    env = json.loads(farm.inspect("h2", recreated.id, "{{json .Config.Env}}"))
    assert "GREETING=second-edit" in env, (env, done)


def test_an_edit_of_the_same_size_reaches_the_host(farm: PrivateFarm) -> None:
    """Only the modification time tells this edit apart (same size), as the doc promises."""
    stack = farm.stack("samesize", "h3", env_stack(farm.lab.image, "aaaa"))
    age(farm.local(stack, "compose.yaml"))
    ok(farm.cf("up", stack))

    farm.local(stack, "compose.yaml").write_text(env_stack(farm.lab.image, "bbbb"))
    done = ok(farm.cf("up", stack))

    [container] = farm.containers(["h3"])
    env = json.loads(farm.inspect("h3", container.id, "{{json .Config.Env}}"))
    assert "GREETING=bbbb" in env, (env, done)


def test_apply_and_update_sync_before_they_start(farm: PrivateFarm) -> None:
    stack = farm.stack("applied", "h1", env_stack(farm.lab.image, "by-apply"))

    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h1")}, done
    assert farm.read("h1", stack, "compose.yaml") == farm.local(stack, "compose.yaml").read_text()

    compose = farm.local(stack, "compose.yaml")
    compose.write_text(compose.read_text() + "# edited before an update\n")
    done = ok(farm.cf("update", stack))

    assert farm.read("h1", stack, "compose.yaml") == compose.read_text(), done
    assert farm.on_engines() == {stack: on("h1")}, done


# --- cf sync -------------------------------------------------------------------------------


def test_host_only_files_survive_a_sync_and_go_with_delete(farm: PrivateFarm) -> None:
    stack = farm.stack("extra", "h1", files={"keep.txt": "kept\n"}, data=["./data"])
    ok(farm.cf("sync", stack))
    assert farm.read("h1", stack, "keep.txt") == "kept\n"
    farm.on_host("h1", stack, "host-only.txt").write_text("made on the host\n")
    farm.on_host("h1", stack, "data").mkdir()
    farm.on_host("h1", stack, "data/db.bin").write_bytes(b"precious\n")
    farm.local(stack, "keep.txt").unlink()  # gone locally too: only --delete removes it

    done = ok(farm.cf("sync", stack))

    assert farm.read("h1", stack, "host-only.txt") == "made on the host\n", done
    assert farm.read("h1", stack, "keep.txt") == "kept\n", done

    done = ok(farm.cf("sync", stack, "--delete"))

    assert not farm.exists("h1", stack, "host-only.txt"), done
    assert not farm.exists("h1", stack, "keep.txt"), done
    assert farm.read("h1", stack, "compose.yaml") == farm.local(stack, "compose.yaml").read_text()
    # The stack's data is never a sync's business, not even with --delete.
    assert farm.read("h1", stack, "data/db.bin") == "precious\n", done
    assert farm.on_engines() == {}  # sync starts nothing


def test_excluded_paths_are_never_sent_nor_deleted(farm: PrivateFarm) -> None:
    farm.settings["sync"] = {"enabled": True, "exclude": ["*.bak", "secrets", "logs/*.log"]}
    files = {
        "keep.txt": "sent\n",
        "logs/today.log": "not sent (the whole path matches)\n",
        "other/today.log": "sent: only logs/*.log is excluded\n",
        "notes.bak": "not sent\n",
        "conf/old.bak": "not sent\n",
        "secrets/key": "not sent\n",
        "conf/secrets/inner": "not sent (a component matches)\n",
        "data/seed.txt": "data: never sent by a sync\n",
    }
    stack = farm.stack("excl", "h2", files=files, data=["./data"])
    (farm.on_host("h2", stack)).mkdir(parents=True)
    farm.on_host("h2", stack, "on-host.bak").write_text("excluded, so never deleted\n")

    done = ok(farm.cf("sync", stack, "--delete"))

    assert farm.read("h2", stack, "keep.txt") == "sent\n", done
    assert farm.read("h2", stack, "other/today.log") == files["other/today.log"], done
    assert farm.read("h2", stack, "compose.yaml") is not None, done
    excluded = ("notes.bak", "conf/old.bak", "secrets/key", "conf/secrets/inner", "logs/today.log")
    for relative in excluded:
        assert not farm.exists("h2", stack, relative), (relative, done)
    assert not farm.exists("h2", stack, "data"), done
    assert farm.read("h2", stack, "on-host.bak") == "excluded, so never deleted\n", done


def test_sync_per_stack_over_the_farm_default_and_farm_wide_delete(farm: PrivateFarm) -> None:
    farm.settings["sync"] = {"enabled": False, "delete": True}
    synced = farm.stack("opted-in", "h1", sync=True)
    unsynced = farm.stack("default", "h1")
    farm.on_host("h1", synced).mkdir(parents=True)
    farm.on_host("h1", synced, "stale.txt").write_text("gone locally\n")

    done = ok(farm.cf("up", synced))

    assert farm.on_engines() == {synced: on("h1")}, done
    assert farm.read("h1", synced, "compose.yaml") is not None, done
    assert not farm.exists("h1", synced, "stale.txt"), done  # delete: true farm-wide
    ok(farm.cf("sync", "--all"))
    assert not farm.exists("h1", unsynced), "sync is off for this stack: never sent"


def test_check_reports_drift_until_the_next_sync(farm: PrivateFarm) -> None:
    stack = farm.stack("drift", "all", files={"conf/app.conf": "level=1\n"})
    ok(farm.cf("up", stack))

    clean = ok(farm.cf("check"))
    assert "app.conf" not in clean.output, clean

    farm.on_host("h3", stack, "conf/app.conf").write_text("level=2 # edited on the host\n")
    drifted = farm.cf("check")

    assert "Traceback" not in drifted.output, drifted
    lines = [ln for ln in drifted.output.splitlines() if "app.conf" in ln]
    assert lines, drifted
    # Only h3's copy drifted, and the report says whose.
    assert all(stack in ln and "h3" in ln for ln in lines), drifted
    assert not [ln for ln in lines if "h1" in ln or "h2" in ln], drifted
    assert drifted.returncode != 0, drifted  # a problem, as a missing mount is

    ok(farm.cf("sync", stack))
    assert farm.read("h3", stack, "conf/app.conf") == "level=1\n"
    done = ok(farm.cf("check"))
    assert "app.conf" not in done.output, done


def test_check_reports_a_folder_never_synced(farm: PrivateFarm) -> None:
    stack = farm.stack("unsent", "h2", files={"conf/app.conf": "level=1\n"})

    done = farm.cf("check")

    assert done.returncode != 0, done
    lines = [ln for ln in done.output.splitlines() if stack in ln]
    assert any("h2" in ln and "compose.yaml" in ln for ln in lines), done
    assert not farm.exists("h2", stack), done  # check only looks


def test_sync_dry_run_changes_nothing(farm: PrivateFarm) -> None:
    stack = farm.stack("dry", "h1", files={"conf/app.conf": "level=1\n"})

    done = ok(farm.cf("sync", stack, "--dry-run"))

    assert not farm.exists("h1", stack), done
    assert says_what(done.output, ["compose.yaml", "app.conf"]), done

    ok(farm.cf("sync", stack))
    farm.on_host("h1", stack, "host-only.txt").write_text("stays\n")
    farm.local(stack, "conf/app.conf").write_text("level=2, edited locally\n")
    farm.local(stack, "new.txt").write_text("new\n")
    before = tree(farm, "h1", stack)

    done = ok(farm.cf("sync", stack, "--dry-run", "--delete"))

    assert tree(farm, "h1", stack) == before, done
    assert says_what(done.output, ["app.conf", "new.txt"]), done
    assert says_what(done.output, ["host-only.txt"]), done  # --delete would remove it
    assert farm.on_engines() == {}


def test_sync_all_with_host_reaches_only_that_host(farm: PrivateFarm) -> None:
    spread = farm.stack("spread", "all")
    single = farm.stack("single", "h3")

    done = ok(farm.cf("sync", "--all", "--host", "h2"))

    assert farm.exists("h2", spread), done
    assert not farm.exists("h1", spread) and not farm.exists("h3", spread), done
    assert not farm.exists("h3", single), done  # not on h2: --host leaves it out

    done = ok(farm.cf("sync", "--all"))

    for host in HOSTS:
        assert farm.exists(host, spread), (host, done)
    assert farm.exists("h3", single), done
    assert not farm.exists("h1", single), done


def test_apply_sees_a_local_edit_of_a_synced_stack_and_applies_it(farm: PrivateFarm) -> None:
    stack = farm.stack("edited", "h2", env_stack(farm.lab.image, "hello"))
    ok(farm.cf("up", stack))
    assert "Nothing to do" in ok(farm.cf("apply", "--dry-run")).output
    before = farm.ids(stack)

    farm.local(stack, "compose.yaml").write_text(env_stack(farm.lab.image, "bonjour"))
    plan = ok(farm.cf("apply", "--dry-run")).output
    assert f"{stack} on h2: folder differs from this machine's (changed: compose.yaml)" in plan
    assert "bonjour" not in (farm.read("h2", stack, "compose.yaml") or ""), "dry run sent it"

    ok(farm.cf("apply", "--yes"))
    after = farm.ids(stack)
    assert after[("h2", "app")] != before[("h2", "app")]
    env = farm.inspect("h2", after[("h2", "app")], "{{range .Config.Env}}{{println .}}{{end}}")
    assert "GREETING=bonjour" in env.splitlines()
    assert "Nothing to do" in ok(farm.cf("apply", "--dry-run")).output
