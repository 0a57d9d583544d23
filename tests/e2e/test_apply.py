"""`cf apply` against real hosts: make the engines match the config, and only once.

Every outcome is read from the hosts' engines (``Farm.placement``,
``snapshot``) and the state file; idempotency is a second ``cf apply`` that
says "Nothing to do" and leaves every container ID as it was. Healthy-host
tests use h1..h3; the one that cuts a host uses h7, h8 (and h1), holding the
h7/h8 lock (``faults`` group).
"""

from __future__ import annotations

import shutil

import pytest

from tests.support.cf import ok
from tests.support.farm import Farm, Where, as_sets, expected
from tests.support.faults import cut
from tests.support.stacks import sleep_stack

HOSTS = ("h1", "h2", "h3")
NOTHING = "Nothing to do"

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]


def _assert_noop(farm: Farm) -> None:
    """A further ``cf apply`` has nothing to do and touches no container, nor the state."""
    before, state = farm.snapshot(), farm.state_bytes()
    again = ok(farm.cf("apply", "--yes"))
    assert NOTHING in again.stdout, again
    assert farm.snapshot() == before
    assert farm.state_bytes() == state


def _eight_stacks(farm: Farm) -> dict[str, str]:
    """Eight stacks over h1..h3, keyed by suffix."""
    where: dict[str, str | list[str]] = {
        "a": "h1",
        "b": "h2",
        "c": "h3",
        "d": "h1",
        "e": "h2",
        "f": "h3",
        "every": "all",
        "pair": ["h1", "h3"],
    }
    return {suffix: farm.stack(suffix, w) for suffix, w in where.items()}


def test_apply_from_nothing_places_every_stack_then_does_nothing(farm: Farm) -> None:
    stacks = _eight_stacks(farm)
    want = expected(farm.stacks, HOSTS)

    done = ok(farm.cf("apply", "--yes"))

    assert f"apply: {len(stacks)} stacks ok" in done.stdout, done
    assert farm.placement() == want
    assert {c.state for c in farm.containers()} == {"running"}  # nothing left behind stopped
    assert as_sets(farm.state()) == want

    before = farm.snapshot()
    again = ok(farm.cf("apply", "--yes"))
    assert NOTHING in again.stdout, again
    assert farm.snapshot() == before
    assert as_sets(farm.state()) == want


def test_apply_after_editing_the_config_moves_removes_and_adds(farm: Farm) -> None:
    s = _eight_stacks(farm)
    ok(farm.cf("apply", "--yes"))
    assert farm.placement() == expected(farm.stacks, HOSTS)
    before = farm.snapshot()

    # Move five, remove three, add two.
    farm.place(s["a"], "h2")
    farm.place(s["b"], "h3")
    farm.place(s["c"], "h1")
    farm.place(s["pair"], ["h2", "h3"])  # off h1, onto h2, stays on h3
    farm.place(s["every"], "h2")  # from every host to one it already runs on
    for gone in ("d", "e", "f"):
        farm.drop(s[gone])
    shutil.rmtree(farm.lab.compose_dir / s["d"])  # an orphan whose folder is gone too
    s["g"] = farm.stack("g", "h3")
    s["h"] = farm.stack("h", ["h1", "h2"])
    want = expected(farm.stacks, HOSTS)

    done = ok(farm.cf("apply", "--yes"))

    placed = farm.placement()
    assert placed == want, done
    for gone in ("d", "e", "f"):
        assert farm.where(s[gone], running=False) == set(), gone  # stopped *and* removed
    for moved in ("a", "b", "c"):
        assert farm.where(s[moved], running=False) == want[s[moved]], moved
    assert farm.where(s["every"], running=False) == {"h2"}
    after = farm.snapshot()
    for stack, host in ((s["pair"], "h3"), (s["every"], "h2")):  # left alone where it stays
        assert after[(stack, host, "app")] == before[(stack, host, "app")], (stack, host)
    assert as_sets(farm.state()) == want
    _assert_noop(farm)


def test_dry_run_lists_the_steps_and_changes_nothing(farm: Farm) -> None:
    moved, removed, stays = (
        farm.stack("moved", "h1"),
        farm.stack("removed", "h2"),
        farm.stack("stays", "h3"),
    )
    ok(farm.cf("apply", "--yes"))
    farm.place(moved, "h2")
    farm.drop(removed)
    added = farm.stack("added", ["h1", "h3"])
    engines, state = farm.snapshot(), farm.state_bytes()

    done = ok(farm.cf("apply", "--dry-run"))

    lines = done.stdout.splitlines()
    assert f"  - {removed} on h2" in lines, done
    assert f"  - {moved}: h1 -> h2" in lines, done
    assert any(line.startswith(f"  - {added} on h1, h3") for line in lines), done
    assert not any(stays in line for line in lines), done
    assert "Dry run: nothing was changed." in done.stdout, done
    assert farm.snapshot() == engines
    assert farm.state_bytes() == state

    # The plan it showed is the one a real run carries out.
    ok(farm.cf("apply", "--yes"))
    assert farm.placement() == expected(farm.stacks, HOSTS)


def test_dry_run_from_nothing_writes_no_state(farm: Farm) -> None:
    stack = farm.stack("new", "h2")

    done = ok(farm.cf("apply", "-n"))

    assert f"  - {stack} on h2  (never started)" in done.stdout.splitlines(), done
    assert farm.containers() == []
    assert farm.state_bytes() is None


def test_apply_stops_strays_and_keeps_the_right_copy(farm: Farm) -> None:
    doubled = farm.stack("doubled", "h1")  # deployed by cf, then also started by hand on h2
    wandered = farm.stack("wandered", "h2")  # only ever started by hand, on h3
    widened = farm.stack("widened", ["h1", "h2"])  # also started by hand on h3
    renamed = farm.stack("renamed", "h3")  # also started by hand on h1, as another project
    by_hand = farm.name("by-hand")
    ok(farm.cf("apply", "--yes"))
    farm.hand_compose("h2", doubled, "up", "-d")
    farm.hand_compose("h3", wandered, "up", "-d")
    farm.hand_compose("h3", widened, "up", "-d")
    farm.hand_compose("h1", renamed, "up", "-d", project=by_hand)
    assert farm.placement()[by_hand] == {"h1"}
    assert farm.placement()[doubled] == {"h1", "h2"}
    before = farm.snapshot()

    done = ok(farm.cf("apply", "--yes"))

    assert farm.placement() == expected(farm.stacks, HOSTS), done
    after = farm.snapshot()
    for stack, host in ((doubled, "h1"), (widened, "h1"), (widened, "h2")):
        assert after[(stack, host, "app")] == before[(stack, host, "app")], (stack, host)
    assert farm.where(doubled, running=False) == {"h1"}
    assert farm.where(widened, running=False) == {"h1", "h2"}
    assert farm.where(wandered, running=False) == {"h2"}
    assert farm.where(renamed, running=False) == {"h3"}
    assert farm.where(by_hand, running=False) == set()
    assert as_sets(farm.state()) == expected(farm.stacks, HOSTS)
    _assert_noop(farm)


def test_apply_starts_containers_killed_by_hand(farm: Farm) -> None:
    single, every = farm.stack("single", "h2"), farm.stack("every", "all")
    ok(farm.cf("apply", "--yes"))
    before = farm.snapshot()
    for stack, host in ((single, "h2"), (every, "h3")):
        killed = farm.lab.docker(host, "kill", before[(stack, host, "app")][0])
        assert killed.returncode == 0, killed.stderr
    assert farm.placement() == {every: {"h1", "h2"}}
    assert farm.where(single, running=False) == {"h2"}  # there, but exited

    done = ok(farm.cf("apply", "--yes"))

    assert farm.placement() == {single: {"h2"}, every: set(HOSTS)}, done
    after = farm.snapshot()
    for host in ("h1", "h2"):  # the copies that were never down were not touched
        assert after[(every, host, "app")] == before[(every, host, "app")]
    assert as_sets(farm.state()) == {single: {"h2"}, every: set(HOSTS)}
    _assert_noop(farm)


def test_apply_starts_a_killed_service_of_a_stack_that_still_half_runs(
    farm: Farm,
) -> None:
    stack = farm.stack("duo", "h2", sleep_stack(farm.lab.image, services=("web", "worker")))
    ok(farm.cf("apply", "--yes"))
    before = farm.snapshot()
    killed = farm.lab.docker("h2", "kill", before[(stack, "h2", "worker")][0])
    assert killed.returncode == 0, killed.stderr
    assert farm.snapshot()[(stack, "h2", "worker")][1] == "exited"

    done = ok(farm.cf("apply", "--yes"))

    after = farm.snapshot()
    assert after[(stack, "h2", "worker")][1] == "running", done
    assert after[(stack, "h2", "web")] == before[(stack, "h2", "web")]  # left alone
    _assert_noop(farm)


def test_no_orphans_leaves_a_removed_stack_running(farm: Farm) -> None:
    kept, removed = farm.stack("kept", "h1"), farm.stack("removed", "h3")
    ok(farm.cf("apply", "--yes"))
    farm.drop(removed)
    before = farm.snapshot()

    done = ok(farm.cf("apply", "--yes", "--no-orphans"))

    assert farm.snapshot() == before, done
    assert farm.where(removed) == {"h3"}
    assert as_sets(farm.state()) == {kept: {"h1"}, removed: {"h3"}}

    # Without the flag the same config stops it: the flag was what held it back.
    ok(farm.cf("apply", "--yes"))
    assert farm.where(removed, running=False) == set()
    assert as_sets(farm.state()) == {kept: {"h1"}}


def test_no_strays_leaves_a_stray_running(farm: Farm) -> None:
    stack = farm.stack("placed", "h1")
    ok(farm.cf("apply", "--yes"))
    farm.hand_compose("h2", stack, "up", "-d")
    before = farm.snapshot()

    done = ok(farm.cf("apply", "--yes", "--no-strays"))

    assert farm.snapshot() == before, done
    assert farm.where(stack) == {"h1", "h2"}

    ok(farm.cf("apply", "--yes"))
    assert farm.where(stack, running=False) == {"h1"}
    assert farm.snapshot()[(stack, "h1", "app")] == before[(stack, "h1", "app")]


def test_a_compose_name_other_than_the_folder_is_recognised(farm: Farm) -> None:
    project = farm.name("custom")
    stack = farm.stack("folder", "h2", f"name: {project}\n" + sleep_stack(farm.lab.image))

    ok(farm.cf("apply", "--yes"))

    assert farm.placement() == {project: {"h2"}}
    assert farm.state() == {stack: ("h2",)}
    _assert_noop(farm)  # recognised by its folder: not started a second time

    # Moving and removing it find it by its folder too.
    farm.place(stack, "h3")
    ok(farm.cf("apply", "--yes"))
    assert farm.placement() == {project: {"h3"}}
    assert farm.state() == {stack: ("h3",)}
    farm.drop(stack)
    ok(farm.cf("apply", "--yes"))
    assert farm.containers() == []
    assert farm.state() == {}


def test_full_recreates_everything_where_it_runs(farm: Farm) -> None:
    single, pair = farm.stack("single", "h1"), farm.stack("pair", ["h2", "h3"])
    ok(farm.cf("apply", "--yes"))
    before = farm.snapshot()

    done = ok(farm.cf("apply", "--yes", "--full"))

    after = farm.snapshot()
    assert set(after) == set(before), done
    for key, (cid, state) in after.items():
        assert state == "running", key
        assert cid != before[key][0], key  # a new container
    assert farm.placement() == {single: {"h1"}, pair: {"h2", "h3"}}
    _assert_noop(farm)


def test_two_applies_at_once_do_the_work_once(farm: Farm) -> None:
    wheres: list[Where] = ["h1", "h2", "h3", "all", ["h1", "h2"], "h3"]
    for i, where in enumerate(wheres):
        farm.stack(f"s{i}", where)
    want = expected(farm.stacks, HOSTS)
    with farm.start("apply", "--yes") as first, farm.start("apply", "--yes") as second:
        runs = [first.finish(), second.finish()]

    for run in runs:
        ok(run)
    # Exactly one of them started the stacks; the other found nothing to do.
    did_work = [r for r in runs if f"apply: {len(want)} stacks ok" in r.stdout]
    idle = [r for r in runs if NOTHING in r.stdout]
    assert len(did_work) == 1 and len(idle) == 1, "\n".join(map(str, runs))
    counts: dict[tuple[str, str], int] = {}
    for c in farm.containers():
        counts[(c.project, c.host)] = counts.get((c.project, c.host), 0) + 1
    assert counts == {(s, h): 1 for s, hosts in want.items() for h in hosts}
    assert farm.placement() == want
    assert as_sets(farm.state()) == want


# --- a host cut during apply -------------------------------------------------------------

FAULT_HOSTS = ("h1", "h7", "h8")
CONNECT_TIMEOUT = 3.0
LIMIT = 25.0  # over 8 connect timeouts (the product's bound for giving up on h8)


@pytest.mark.xdist_group("faults")
@pytest.mark.farm(hosts=FAULT_HOSTS, connect_timeout=CONNECT_TIMEOUT, exclusive=True)
def test_apply_with_a_host_cut_does_the_rest_then_finishes_after_restore(farm: Farm) -> None:
    mover, leaving = farm.stack("mover", "h8"), farm.stack("leaving", "h8")
    ok(farm.cf("apply", "--yes"))
    assert farm.placement() == {mover: {"h8"}, leaving: {"h8"}}
    on_h1, on_h7, on_h8 = (farm.stack(f"on-{h}", h) for h in FAULT_HOSTS)
    spread = farm.stack("spread", "all")
    farm.place(mover, "h7")  # must wait: h8 cannot be asked to stop it
    farm.drop(leaving)  # an orphan on h8: must wait too
    during = {
        on_h1: {"h1"},
        on_h7: {"h7"},
        mover: {"h8"},
        leaving: {"h8"},
        spread: {"h1", "h7"},
    }

    with cut(farm.lab, "h8"):
        engines, state = farm.snapshot(), farm.state_bytes()
        preview = farm.cf("apply", "--dry-run", timeout=60)
        assert preview.returncode == 4, preview
        assert f"  ! {leaving}: orphan on h8, which is unreachable" in preview.stdout, preview
        assert f"  ! {mover}: move h8 -> h7 waits: h8 is unreachable" in preview.stdout, preview
        assert farm.snapshot() == engines
        assert farm.state_bytes() == state

        done = farm.cf("apply", "--yes", timeout=60)

        assert done.elapsed < LIMIT, done
        assert done.returncode == 4, done  # README: 4 = a host could not be reached
        assert "Traceback" not in done.output, done
        lines = done.output.splitlines()
        assert any("'h8'" in ln and "no answer within 3 s" in ln for ln in lines), done
        assert f"  ! {on_h8}: h8 is unreachable: cannot check or start it" in lines, done
        assert farm.placement() == during, done
        assert farm.where(on_h8, running=False) == set()
        assert farm.where(mover, running=False) == {"h8"}  # no second copy on h7
        assert as_sets(farm.state()) == during  # h8's entries kept, nothing new on h8
        before = farm.snapshot()

    done = ok(farm.cf("apply", "--yes", timeout=60))
    want = {
        on_h1: {"h1"},
        on_h7: {"h7"},
        on_h8: {"h8"},
        mover: {"h7"},
        spread: set(FAULT_HOSTS),
    }
    assert farm.placement() == want, done
    assert farm.where(mover, running=False) == {"h7"}
    assert farm.where(leaving, running=False) == set()
    for host in ("h1", "h7"):  # the copies started during the cut are kept
        assert farm.snapshot()[(spread, host, "app")] == before[(spread, host, "app")]
    assert as_sets(farm.state()) == want
    _assert_noop(farm)
