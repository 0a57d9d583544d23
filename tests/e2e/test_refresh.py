"""`cf refresh` against real hosts: the state file and the digest log follow the engines.

What runs where is changed by hand on a host's engine, then `cf refresh` must
record exactly that; a host that cannot be asked keeps its entries. Digests
in ``dockerfarm-log.toml`` are compared with what each engine and the lab
registry report.
"""

from __future__ import annotations

import uuid

import pytest

from tests.lab import Lab
from tests.support.cf import ok
from tests.support.engines import repo_digest
from tests.support.farm import Farm
from tests.support.faults import cut
from tests.support.stacks import sleep_stack

HOSTS = ("h1", "h2", "h3")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]


def test_refresh_records_what_runs_and_dry_run_writes_nothing(farm: Farm) -> None:
    kept = farm.stack("kept", "h1")
    stopped = farm.stack("stopped", "h2")
    shrunk = farm.stack("shrunk", ["h1", "h3"])
    unrecorded = farm.stack("unrecorded", "h3")  # started by hand: state does not know it
    ok(farm.cf("up", kept, stopped, shrunk))
    assert farm.state() == {kept: ("h1",), stopped: ("h2",), shrunk: ("h1", "h3")}
    farm.hand_compose("h2", stopped, "down")
    killed = farm.snapshot()[(shrunk, "h3", "app")][0]
    assert farm.lab.docker("h3", "rm", "-f", killed).returncode == 0
    farm.hand_compose("h3", unrecorded, "up", "-d")
    engines, state = farm.snapshot(), farm.state_bytes()

    preview = ok(farm.cf("refresh", "--dry-run"))

    lines = preview.stdout.splitlines()
    assert f"  {stopped}: h2 -> -" in lines, preview
    assert f"  {shrunk}: h1, h3 -> h1" in lines, preview
    assert f"  {unrecorded}: - -> h3" in lines, preview
    assert not any(kept in line for line in lines), preview
    assert "Dry run: nothing was written." in preview.stdout, preview
    assert farm.state_bytes() == state
    assert farm.snapshot() == engines
    assert not (farm.folder / "dockerfarm-log.toml").exists()

    done = ok(farm.cf("refresh"))

    assert farm.state() == {kept: ("h1",), shrunk: ("h1",), unrecorded: ("h3",)}, done
    assert farm.snapshot() == engines  # refresh only reads the hosts
    again = ok(farm.cf("refresh"))
    assert "State already matches the hosts." in again.stdout, again
    assert farm.state() == {kept: ("h1",), shrunk: ("h1",), unrecorded: ("h3",)}


def test_refresh_digest_log_follows_the_images_and_keeps_history(farm: Farm) -> None:
    lab = farm.lab
    ref = f"cfrefresh-{uuid.uuid4().hex[:12]}:1"
    v1 = lab.push_image(ref, "v1")
    own = farm.stack("own", "h1", sleep_stack(v1.ref))
    shared = farm.stack("shared", ["h2", "h3"])  # the lab's image
    ok(farm.cf("up", "--all"))

    ok(farm.cf("refresh"))

    first = farm.digest_log()
    by_key = {(e["stack"], e["host"]): e for e in first}
    assert set(by_key) == {(own, "h1"), (shared, "h2"), (shared, "h3")}, first
    assert len(first) == 3, first
    assert by_key[(own, "h1")]["image"] == v1.ref
    assert by_key[(own, "h1")]["digest"] == repo_digest(lab, "h1", v1.ref) == v1.digest
    for host in ("h2", "h3"):
        entry = by_key[(shared, host)]
        assert entry["image"] == lab.image
        assert entry["digest"] == repo_digest(lab, host, lab.image)
    for entry in first:
        assert entry["first_seen"] == entry["last_seen"], entry

    # A new image under the same tag, rolled out with `cf update`.
    v2 = lab.push_image(ref, "v2")
    assert v2.digest != v1.digest
    old_id = farm.snapshot()[(own, "h1", "app")][0]
    ok(farm.cf("update", own))
    assert farm.snapshot()[(own, "h1", "app")][0] != old_id  # recreated on the new image
    assert repo_digest(lab, "h1", v2.ref) == v2.digest

    ok(farm.cf("refresh"))

    second = farm.digest_log()
    own_entries = {e["digest"]: e for e in second if e["stack"] == own}
    assert set(own_entries) == {v1.digest, v2.digest}, second
    assert own_entries[v1.digest] == by_key[(own, "h1")]  # history kept, untouched
    assert own_entries[v2.digest]["digest"] == lab.registry_digest(ref)
    assert own_entries[v2.digest]["host"] == "h1"
    assert own_entries[v2.digest]["image"] == v2.ref
    assert own_entries[v2.digest]["first_seen"] >= own_entries[v1.digest]["last_seen"]
    for host in ("h2", "h3"):  # same image seen again: same entry, later last_seen
        [entry] = [e for e in second if (e["stack"], e["host"]) == (shared, host)]
        assert entry["digest"] == by_key[(shared, host)]["digest"]
        assert entry["first_seen"] == by_key[(shared, host)]["first_seen"]
        assert entry["last_seen"] >= by_key[(shared, host)]["last_seen"]
    assert len(second) == 4, second


def test_refresh_after_a_pull_still_names_the_running_image_by_its_reference(
    farm: Farm,
) -> None:
    lab = farm.lab
    ref = f"cfrefresh-{uuid.uuid4().hex[:12]}:1"
    v1 = lab.push_image(ref, "v1")
    stack = farm.stack("pulled", "h1", sleep_stack(v1.ref))
    ok(farm.cf("up", stack))
    ok(farm.cf("refresh"))
    [first] = farm.digest_log()
    lab.push_image(ref, "v2")
    ok(farm.cf("pull", stack))  # the new image is on h1; the container still runs v1

    ok(farm.cf("refresh"))

    entries = farm.digest_log()
    assert [(e["image"], e["digest"]) for e in entries] == [(v1.ref, v1.digest)], entries
    assert entries[0]["first_seen"] == first["first_seen"]


@pytest.mark.xdist_group("faults")
@pytest.mark.farm(hosts=("h1", "h7"), connect_timeout=3, exclusive=True)
def test_refresh_with_a_host_cut_keeps_that_hosts_entries(farm: Farm, lab: Lab) -> None:
    on_h1 = farm.stack("on-h1", "h1")
    gone = farm.stack("gone", "h1")
    on_h7 = farm.stack("on-h7", "h7")
    both = farm.stack("both", ["h1", "h7"])
    ok(farm.cf("up", "--all"))
    farm.hand_compose("h1", gone, "down")
    farm.hand_compose("h1", both, "down")

    with cut(lab, "h7"):
        done = farm.cf("refresh", timeout=60)

        assert done.returncode == 4, done  # README: 4 = a host could not be reached
        assert "Traceback" not in done.output, done
        warnings = [ln for ln in done.output.splitlines() if ln.startswith("warning:")]
        assert any("'h7'" in ln and "kept its 2 stacks in state" in ln for ln in warnings), done
        assert farm.state() == {on_h1: ("h1",), on_h7: ("h7",), both: ("h7",)}
        assert farm.placement() == {on_h1: {"h1"}, on_h7: {"h7"}, both: {"h7"}}

    done = ok(farm.cf("refresh"))
    assert farm.state() == {on_h1: ("h1",), on_h7: ("h7",), both: ("h7",)}
    assert "State already matches the hosts." in done.stdout, done
