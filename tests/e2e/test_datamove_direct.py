"""Data moves host to host, and relayed through cf when the new host cannot reach the old.

The new host pulls from the old one with a key made for one copy (sync/direct.py).
Each test reads the data as both hosts see it, asks the engines where the stack
runs, and reads the old host's ``authorized_keys`` to check the key is gone.
A host that cannot reach the other is made with an iptables rule inside the new
host's network namespace (REJECT its SSH connections to the old host), removed
after the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.lab import Lab
from tests.support.cf import ok
from tests.support.privatefarm import PrivateFarm, fill
from tests.support.stacks import sleep_stack

DATA = "    volumes:\n      - ./data:/data\n"


pytestmark = pytest.mark.farm(hosts=("h1", "h2", "h3"), kind=PrivateFarm)


def _data_stack(farm: PrivateFarm, suffix: str, host: str) -> str:
    stack = farm.stack(suffix, host, sleep_stack(farm.lab.image, extra=DATA), data=["./data"])
    # above DIRECT_FROM_BYTES (16 MB): the pre-copy goes host to host when it can
    fill(farm.on_host(host, stack, "data"), 20, files=5)
    ok(farm.cf("up", stack))
    return stack


def _authorized_keys(lab: Lab, host: str) -> str:
    done = lab.host_exec(host, ["sh", "-c", "cat /root/.ssh/authorized_keys 2>/dev/null"])
    return done.stdout


@contextmanager
def rejecting_ssh(lab: Lab, host: str, to: str) -> Iterator[None]:
    """``host`` cannot open SSH connections to ``to`` for the block."""
    rule = ["OUTPUT", "-p", "tcp", "-d", lab.host(to).address, "--dport", "22", "-j", "REJECT"]
    lab.host_exec(host, ["iptables", "-w", "-A", *rule])
    try:
        yield
    finally:
        lab.host_exec(host, ["iptables", "-w", "-D", *rule], check=False)


def _move(farm: PrivateFarm, stack: str, old: str, new: str) -> str:
    before = farm.checksums(old, stack, "data")
    farm.place(stack, new)
    done = ok(farm.cf("apply", "--yes"))
    assert farm.where(stack) == {new}, done
    assert farm.state()[stack] == (new,)
    assert farm.checksums(new, stack, "data") == before, done
    assert "cf-move-" not in _authorized_keys(farm.lab, old)  # the one-copy key is gone
    return done.output


def test_the_new_host_pulls_straight_from_the_old_one(farm: PrivateFarm) -> None:
    stack = _data_stack(farm, "direct", "h1")
    output = _move(farm, stack, "h1", "h2")
    assert "while it runs, host to host with rsync" in output, output
    # the final copy (a few bytes, if anything) stays on cf's open connections
    assert "after the stop, host to host" not in output, output


def test_a_new_host_that_cannot_reach_the_old_one_gets_the_data_relayed(
    farm: PrivateFarm,
) -> None:
    stack = _data_stack(farm, "relayed", "h2")
    with rejecting_ssh(farm.lab, "h3", "h2"):
        output = _move(farm, stack, "h2", "h3")
    assert "h3 cannot reach h2 over SSH" in output, output
    assert "while it runs, relayed through cf" in output and "host to host" not in output, output


def test_host_to_host_can_be_switched_off(farm: PrivateFarm) -> None:
    farm.settings["sync"] = {"enabled": True, "host_to_host": False}
    stack = _data_stack(farm, "nodirect", "h3")
    output = _move(farm, stack, "h3", "h1")
    assert "while it runs, relayed through cf" in output and "host to host" not in output, output


def test_a_folder_with_spaces_quotes_and_backslashes_goes_host_to_host(
    farm: PrivateFarm,
) -> None:
    # The path reaches the hosts' programs only quoted, never inside authorized_keys.
    odd = "my da\\ta 'x' \"y\""
    volume = f"    volumes:\n      - type: bind\n        source: {json.dumps('./' + odd)}\n"
    volume += "        target: /data\n"
    stack = farm.stack("odd", "h2", sleep_stack(farm.lab.image, extra=volume), data=[f"./{odd}"])
    fill(farm.on_host("h2", stack, odd), 20, files=4)
    ok(farm.cf("up", stack))
    before = farm.checksums("h2", stack, odd)
    farm.place(stack, "h1")
    done = ok(farm.cf("apply", "--yes"))
    assert "while it runs, host to host with rsync" in done.output, done
    assert farm.where(stack) == {"h1"}, done
    assert farm.checksums("h1", stack, odd) == before
    assert "cf-move-" not in _authorized_keys(farm.lab, "h2")
