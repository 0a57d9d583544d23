"""Hosts that cannot be reached: a cut cable, a frozen or stopped sshd, a changed host key.

These tests break hosts, so they use only h4..h6 and run one at a time (xdist
group ``faults``, and the hosts' lock since that group alone does not hold
under pytest 9.2); every broken host is put back by a context manager, even
when an assertion fails. The connect timeout is 3 s so a test that waits for it
stays short; a test that must not wait for it gets a long one instead, so
that "did not wait" is far from "waited" on a busy machine. What ran where is
read from the engines over their unix sockets, which a cut cable or a dead
sshd does not affect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest

from tests.lab import Lab
from tests.support.cf import CfRun
from tests.support.farm import Farm, on
from tests.support.faults import cut, frozen_sshd, new_host_key, stopped_sshd

HOSTS = ("h4", "h5", "h6")
TIMEOUT = 3.0
LONG_TIMEOUT = 30.0  # for a test that must not wait for the connect timeout at all

pytestmark = [
    pytest.mark.lab,
    pytest.mark.xdist_group("faults"),
    pytest.mark.farm(hosts=HOSTS, connect_timeout=TIMEOUT, exclusive=True),
]

Fault = Callable[[Lab, str], AbstractContextManager[None]]
SILENT_FAULTS: dict[str, Fault] = {"cut": cut, "frozen_sshd": frozen_sshd}


def _assert_not_interrupted(done: CfRun) -> None:
    assert "Interrupted" not in done.output, done
    assert "Ctrl-C" not in done.output, done
    assert "Traceback" not in done.output, done


def _assert_named_unreachable(done: CfRun, host: str, reason: str) -> None:
    """Some line names the host and the reason (``no answer within 3 s``, ``refused``...)."""
    lines = [line for line in done.output.splitlines() if f"'{host}'" in line and reason in line]
    assert lines, f"no line names {host!r} with {reason!r}:\n{done}"


@pytest.mark.parametrize("fault", SILENT_FAULTS)
def test_up_all_with_a_silent_host_pays_the_timeout_once(farm: Farm, fault: str) -> None:
    """Six stacks on the silent host: one wait for all of them, the other hosts go on."""
    lab = farm.lab
    silent = [farm.stack(f"on-h5-{i}", "h5") for i in range(6)]
    healthy = {farm.stack("on-h4", "h4"): "h4", farm.stack("on-h6", "h6"): "h6"}

    with SILENT_FAULTS[fault](lab, "h5"):
        done = farm.cf("up", "--all")

    # One wait is TIMEOUT; a wait per stack would be at least 6 * TIMEOUT.
    assert done.elapsed < 4 * TIMEOUT, done
    assert done.returncode == 4, done  # only a host could not be reached
    _assert_not_interrupted(done)
    _assert_named_unreachable(done, "h5", f"no answer within {TIMEOUT:g} s")
    assert "6 of 8 stacks failed to up" in done.stdout, done
    summary = done.stdout.split("stacks failed to up:", 1)[-1]
    assert all(stack in summary for stack in silent), done
    assert farm.on_engines() == {stack: on(host) for stack, host in healthy.items()}
    assert farm.state() == {stack: (host,) for stack, host in healthy.items()}


@pytest.mark.farm(hosts=HOSTS, connect_timeout=LONG_TIMEOUT, exclusive=True)
def test_up_all_with_sshd_stopped_fails_that_host_at_once(farm: Farm) -> None:
    lab = farm.lab
    stacks = {h: farm.stack(f"on-{h}", h) for h in HOSTS}

    with stopped_sshd(lab, "h5"):
        done = farm.cf("up", "--all")

    assert done.elapsed < LONG_TIMEOUT, done  # refused: it never waited for the timeout
    assert done.returncode == 4, done  # only a host could not be reached
    _assert_not_interrupted(done)
    _assert_named_unreachable(done, "h5", "refused")
    assert farm.on_engines() == {stacks["h4"]: on("h4"), stacks["h6"]: on("h6")}
    assert farm.state() == {stacks["h4"]: ("h4",), stacks["h6"]: ("h6",)}


def test_up_all_logs_in_once_per_host(farm: Farm) -> None:
    lab = farm.lab
    stacks = {h: [farm.stack(f"on-{h}-{i}", h) for i in range(4)] for h in HOSTS}
    before = {h: lab.ssh_logins(h) for h in HOSTS}

    done = farm.cf("up", "--all")

    assert done.returncode == 0, done
    assert {h: lab.ssh_logins(h) - before[h] for h in HOSTS} == dict.fromkeys(HOSTS, 1)
    assert farm.on_engines() == {s: on(h) for h, names in stacks.items() for s in names}


def test_a_changed_host_key_is_refused(farm: Farm) -> None:
    lab = farm.lab
    ok, rekeyed = farm.stack("on-h4", "h4"), farm.stack("on-h6", "h6")

    with new_host_key(lab, "h6"):
        logins = lab.ssh_logins("h6")
        done = farm.cf("up", "--all")
        assert lab.ssh_logins("h6") == logins  # never authenticated to the impostor

    assert done.returncode in (1, 4), done
    _assert_not_interrupted(done)
    _assert_named_unreachable(done, "h6", "CHANGED")
    assert rekeyed in done.stdout.split("stacks failed to up:", 1)[-1], done
    assert farm.on_engines() == {ok: on("h4")}  # nothing started on h6
    assert lab.ssh("h6", "true").returncode == 0  # the original key is back
    assert farm.state() == {ok: ("h4",)}


def test_ps_with_a_cut_host_lists_the_others_and_exits_4(farm: Farm) -> None:
    stacks = {h: farm.stack(f"on-{h}", h) for h in HOSTS}
    assert (up := farm.cf("up", "--all")).returncode == 0, up

    with cut(farm.lab, "h5"), ThreadPoolExecutor(max_workers=2) as pool:
        # At once, so the test waits for the timeout once.
        table, as_json = pool.map(lambda args: farm.cf(*args), [("ps",), ("ps", "--json")])

    assert table.returncode == 4, table
    _assert_not_interrupted(table)
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:] if line}
    assert rows[stacks["h4"]][2:4] == ["h4", "Up"], table
    assert rows[stacks["h6"]][2:4] == ["h6", "Up"], table
    assert rows[stacks["h5"]][1:3] == ["h5", "unreachable"], table
    _assert_named_unreachable(table, "h5", f"no answer within {TIMEOUT:g} s")

    assert as_json.returncode == 4, as_json
    report = json.loads(as_json.stdout)
    assert set(report["unreachable"]) == {"h5"}
    listed = {(r["stack"], r["host"], r["state"]) for r in report["containers"]}
    assert listed == {
        (stacks["h4"], "h4", "running"),
        (stacks["h5"], "h5", "unreachable"),
        (stacks["h6"], "h6", "running"),
    }


def test_an_unreachable_host_keeps_its_stacks(farm: Farm) -> None:
    """`down --all` with h5 cut: h5's stack is not "stopped", it stays in state and runs."""
    stacks = {h: farm.stack(f"on-{h}", h) for h in HOSTS}
    assert (up := farm.cf("up", "--all")).returncode == 0, up

    with cut(farm.lab, "h5"):
        done = farm.cf("down", "--all")

    assert done.returncode == 4, done  # only a host could not be reached
    _assert_not_interrupted(done)
    assert farm.state() == {stacks["h5"]: ("h5",)}
    assert farm.on_engines() == {stacks["h5"]: on("h5")}


def test_a_stack_is_not_moved_off_an_unreachable_host(farm: Farm) -> None:
    """It cannot be stopped there, so starting it elsewhere would make two copies."""
    stack = farm.stack("mover", "h5")
    assert (up := farm.cf("up", stack)).returncode == 0, up

    farm.place(stack, "h4")
    with cut(farm.lab, "h5"):
        done = farm.cf("up", stack)

    assert done.returncode == 4, done  # only a host could not be reached
    _assert_not_interrupted(done)
    _assert_named_unreachable(done, "h5", f"no answer within {TIMEOUT:g} s")
    assert "not moved" in done.stdout, done
    assert farm.on_engines() == {stack: on("h5")}
    assert farm.state() == {stack: ("h5",)}
