"""`cf ps`, `cf logs`, `cf stats --containers` against real hosts, checked on the engines.

Most tests use the shared hosts h1..h3. The login count needs hosts nobody else
talks to meanwhile, so that test runs on h4..h6 under the ``faults`` group's lock.
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.lab import Lab
from tests.support.farm import Farm, Running
from tests.support.waiting import eventually

HOSTS = ("h1", "h2", "h3")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]

CHATTY_STACK = """\
services:
  app:
    image: {image}
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo line-$$i; done; exec sleep 3600"]
"""


def _logged(farm: Farm, container: Running, text: str) -> bool:
    return text in farm.lab.docker(container.host, "logs", container.id).stdout


def _up(farm: Farm, *args: str) -> None:
    done = farm.cf("up", *args)
    assert done.returncode == 0, done


def test_ps_json_lists_each_container_on_its_host(farm: Farm) -> None:
    stacks = [
        farm.stack("a", "h1"),
        farm.stack("b", "h2"),
        farm.stack("c", "h3"),
        farm.stack("d", "all"),
    ]
    _up(farm, "--all")
    assert (stopped := farm.cf("stop", stacks[2])).returncode == 0, stopped

    done = farm.cf("ps", "--json")

    assert done.returncode == 0, done
    report = json.loads(done.stdout)
    assert report["unreachable"] == {}
    listed = {
        (row["stack"], row["host"], row["name"], row["state"])
        for row in report["containers"]
        if row["stack"] in stacks
    }
    engines = {(c.project, c.host, c.name, c.state) for c in farm.containers()}
    assert listed == engines
    assert {(s, h) for s, h, _, _ in listed} == {
        (stacks[0], "h1"),
        (stacks[1], "h2"),
        (stacks[2], "h3"),
        *((stacks[3], h) for h in HOSTS),
    }
    assert {state for s, _, _, state in listed if s == stacks[2]} == {"exited"}


def test_logs_are_prefixed_with_the_stack(farm: Farm) -> None:
    single = farm.stack("chatty", "h2", CHATTY_STACK.format(image=farm.lab.image))
    multi = farm.stack("chorus", ["h1", "h3"], CHATTY_STACK.format(image=farm.lab.image))
    _up(farm, "--all")
    for c in farm.containers():
        assert eventually(partial(_logged, farm, c, "line-8")), f"{c.name} on {c.host}: no line-8"

    done = farm.cf("logs", "--tail", "5", single)

    assert done.returncode == 0, done
    lines = [line for line in done.stdout.splitlines() if "line-" in line]
    assert [line.rsplit("line-", 1)[1] for line in lines] == ["4", "5", "6", "7", "8"], done
    assert all(line.startswith(f"[{single}] ") for line in lines), done

    both = farm.cf("logs", "--tail", "1", multi)
    assert both.returncode == 0, both
    tails = sorted(line.split()[0] for line in both.stdout.splitlines() if "line-8" in line)
    assert tails == [f"[{multi}@h1]", f"[{multi}@h3]"], both


def test_stats_json_names_the_stack_of_each_running_container(farm: Farm) -> None:
    stacks = [farm.stack("a", "h1"), farm.stack("b", "h3")]
    _up(farm, "--all")
    expected = {(c.host, c.project, c.name) for c in farm.containers()}
    assert {s for _, s, _ in expected} == set(stacks)

    done = farm.cf("stats", "--containers", "--json")

    assert done.returncode == 0, done
    report = json.loads(done.stdout)
    assert report["unreachable"] == {}
    names = {name for _, _, name in expected}
    listed = {
        (row["host"], row["stack"], row["container"])
        for row in report["containers"]
        if row["container"] in names
    }
    assert listed == expected
    mine = [row for row in report["containers"] if row["container"] in names]
    assert all(row["cpu"].endswith("%") and row["memory"] for row in mine), mine


@pytest.mark.xdist_group("faults")
@pytest.mark.farm(hosts=("h4", "h5", "h6"), exclusive=True)
def test_ps_logs_in_once_per_host(farm: Farm, lab: Lab) -> None:
    """h4..h6: nobody else logs in there while the ``faults`` group runs this."""
    for host in farm.hosts:
        for i in range(3):
            farm.stack(f"{host}-{i}", host)
    farm.stack("everywhere", "all")
    _up(farm, "--all")
    before = {h: lab.ssh_logins(h) for h in farm.hosts}

    done = farm.cf("ps")

    assert done.returncode == 0, done
    assert {h: lab.ssh_logins(h) - before[h] for h in farm.hosts} == dict.fromkeys(farm.hosts, 1)
    for stack in farm.stacks:
        assert stack in done.stdout
