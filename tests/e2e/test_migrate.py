"""Moving a stack to another host by editing the config, and rolling back when that fails.

Hosts h1..h3 (shared: nothing here breaks a host). Where the stack runs is
read from the engines; the state file through cf's own reader.
"""

from __future__ import annotations

import random

import pytest

from tests.support.farm import Farm, on
from tests.support.stacks import sleep_stack

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=("h1", "h2", "h3"))]


def test_changing_the_host_moves_the_stack(farm: Farm) -> None:
    stack = farm.stack("mover", "h1")
    assert (up := farm.cf("up", stack)).returncode == 0, up
    assert farm.on_engines() == {stack: on("h1")}

    farm.place(stack, "h2")
    done = farm.cf("up", stack)

    assert done.returncode == 0, done
    assert farm.on_engines() == {stack: on("h2")}  # nothing left on h1, not even stopped
    assert farm.state() == {stack: ("h2",)}

    # Run twice: the stack stays where it is, same container.
    ids = farm.ids(stack)
    again = farm.cf("up", stack)
    assert again.returncode == 0, again
    assert farm.ids(stack) == ids


def test_a_move_that_fails_on_the_new_host_is_rolled_back(farm: Farm) -> None:
    port = random.randint(21000, 29999)  # not a fixed port: other tests publish ports too
    stack = farm.stack(
        "web", "h1", sleep_stack(farm.lab.image, extra=f'    ports: ["{port}:8080"]\n')
    )
    assert (up := farm.cf("up", stack)).returncode == 0, up
    assert farm.on_engines() == {stack: on("h1")}
    farm.occupy_port("h2", port)

    farm.place(stack, "h2")
    done = farm.cf("up", stack)

    assert done.returncode == 1, done
    assert "rolled back" in done.stdout, done
    assert farm.on_engines() == {stack: on("h1")}  # and the failed attempt is cleaned off h2
    assert farm.state() == {stack: ("h1",)}


def test_moving_a_stack_off_several_hosts_leaves_nothing_behind(farm: Farm) -> None:
    stack = farm.stack("spread", ["h1", "h2"])
    assert (up := farm.cf("up", stack)).returncode == 0, up
    assert farm.on_engines() == {stack: on("h1", "h2")}

    farm.place(stack, "h3")
    done = farm.cf("up", stack)

    assert done.returncode == 0, done
    assert farm.state() == {stack: ("h3",)}
    assert farm.on_engines() == {stack: on("h3")}
