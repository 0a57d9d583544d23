"""`cf check`, `cf init-network` and the `cf up` preflight against real hosts.

A stack's needs (bind-mount sources, external networks) are made present or
absent on the hosts' engines directly, then cf's report is compared with
that; networks a test creates are removed afterwards whoever created them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.lab import Lab
from tests.support.cf import CfRun, ok
from tests.support.engines import random_subnet, removed_networks, subnets_of
from tests.support.farm import Farm
from tests.support.stacks import needy_stack, sleep_stack

HOSTS = ("h1", "h2", "h3")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]


@pytest.fixture
def network(farm: Farm) -> Iterator[str]:
    """A network name no other test uses; removed from h1..h3 afterwards."""
    with removed_networks(farm.lab, farm.name("net"), HOSTS) as name:
        yield name


def _problems(done: CfRun) -> list[str]:
    return [ln.removeprefix("problem: ") for ln in done.stdout.splitlines() if "problem:" in ln]


def test_check_passes_then_names_a_missing_mount_and_network(farm: Farm, network: str) -> None:
    for i, where in enumerate(("h1", "h2", "h3", "all")):
        farm.stack(f"good{i}", where)

    done = ok(farm.cf("check"))

    for host in HOSTS:
        assert f"{host}: reachable" in done.stdout.splitlines(), done
    assert "All checks passed." in done.stdout, done
    assert _problems(done) == [], done

    missing = f"/tmp/cf-missing-{uuid.uuid4().hex}"
    bad = farm.stack("bad", "h2", needy_stack(farm.lab.image, mount=missing, network=network))

    done = farm.cf("check")

    assert done.returncode == 1, done
    [problem] = _problems(done)
    assert problem.startswith(f"{bad} on h2: missing "), done
    assert f"bind-mount source {missing}" in problem, done
    assert f"external network {network}" in problem, done

    created = ok(farm.cf("init-network", "h1", "h2", "h3", "--network", network))
    for host in HOSTS:
        assert f"{host}: created {network}" in created.stdout, created
        assert subnets_of(farm.lab, host, network) is not None, host

    done = farm.cf("check")

    assert done.returncode == 1, done
    [problem] = _problems(done)
    assert problem == f"{bad} on h2: missing bind-mount source {missing}", done
    assert network not in done.output

    again = ok(farm.cf("init-network", "h1", "h2", "h3", "--network", network))
    for host in HOSTS:
        assert f"{host}: {network} already exists" in again.stdout, again


def test_init_network_leaves_a_different_subnet_alone(farm: Farm, network: str) -> None:
    lab = farm.lab
    first = _create_with_subnet(farm, "h1", network)
    other = random_subnet(avoid=[first])

    done = farm.cf("init-network", "h1", "h2", "--network", network, "--subnet", other)

    assert done.returncode == 1, done
    assert f"h1: {network} exists with {first}, not {other}: left as it is" in done.stderr, done
    assert subnets_of(lab, "h1", network) == [first]
    if subnets_of(lab, "h2", network) is None:  # the engine refused: the pool overlaps one there
        assert "h2: failed:" in done.stderr, done
    else:
        assert f"h2: created {network} ({other})" in done.stdout, done
        assert subnets_of(lab, "h2", network) == [other]


def _create_with_subnet(farm: Farm, host: str, network: str) -> str:
    """``cf init-network HOST --subnet S`` with a free S: Docker refuses overlapping pools."""
    for _ in range(5):
        subnet = random_subnet()
        done = farm.cf("init-network", host, "--network", network, "--subnet", subnet)
        if done.returncode == 0:
            assert f"{host}: created {network} ({subnet})" in done.stdout, done
            assert subnets_of(farm.lab, host, network) == [subnet]
            return subnet
        assert "overlap" in done.stderr.lower(), done
    raise AssertionError(f"no free subnet for {network} on {host}")


def test_check_named_stack_shows_where_it_could_run(farm: Farm, network: str) -> None:
    lab = farm.lab
    for host in ("h1", "h2"):
        assert lab.docker(host, "network", "create", network).returncode == 0
    stack = farm.stack("picky", "h1", needy_stack(lab.image, network=network))
    other = farm.stack("plain", "h3")

    done = ok(farm.cf("check", stack, other))

    lines = done.stdout.splitlines()
    header = next(ln for ln in lines if ln.split()[:1] == ["STACK"])
    assert header.split() == ["STACK", *HOSTS], done
    row = next(ln for ln in lines if ln.split()[:1] == [stack])
    assert re.fullmatch(rf"{stack}\s+ok\s+ok\s+missing external network {network}", row.strip()), (
        done
    )
    row = next(ln for ln in lines if ln.split()[:1] == [other])
    assert row.split() == [other, "ok", "ok", "ok"], done


def test_up_is_refused_when_the_external_network_is_missing(farm: Farm, network: str) -> None:
    stack = farm.stack("needs-net", "h3", needy_stack(farm.lab.image, network=network))

    done = farm.cf("up", stack)

    assert done.returncode == 1, done
    assert f"external network {network}" in done.output, done
    assert "cf init-network h3" in done.output, done
    assert farm.containers() == []
    assert farm.state() == {}

    ok(farm.cf("init-network", "h3", "--network", network))
    ok(farm.cf("up", stack))
    assert farm.placement() == {stack: {"h3"}}


def test_the_preflight_hint_creates_the_missing_network(farm: Farm, network: str) -> None:
    stack = farm.stack("hinted", "h3", needy_stack(farm.lab.image, network=network))
    refused = farm.cf("up", stack)
    assert refused.returncode == 1, refused
    hint = re.search(r"create networks with: (cf init-network [^.\n]+)", refused.output)
    assert hint is not None, refused

    assert f"--network {network}" in hint.group(1), refused

    ok(farm.cf(*hint.group(1).split()[1:]))  # the suggested command, as a user would paste it
    assert subnets_of(farm.lab, "h3", network) is not None
    ok(farm.cf("up", stack))
    assert farm.placement() == {stack: {"h3"}}


@pytest.fixture
def host_home_folder(lab: Lab) -> Iterator[str]:
    """A folder in root's home on h1 (``~/NAME`` there); removed afterwards."""
    name = f"cf-home-{uuid.uuid4().hex[:12]}"
    made = lab.ssh("h1", f"mkdir ~/{name}")
    assert made.returncode == 0, made.stderr
    try:
        yield name
    finally:
        lab.ssh("h1", f"rmdir ~/{name}")


def test_a_home_relative_mount_is_looked_up_in_the_hosts_home(
    host_home_folder: str, farm: Farm
) -> None:
    """(The folder fixture comes first so that it is removed after the farm's containers.)"""
    stack = farm.stack("home", "h1", needy_stack(farm.lab.image, mount=f"~/{host_home_folder}"))

    done = farm.cf("check")

    assert _problems(done) == [], done
    assert done.returncode == 0, done
    ok(farm.cf("up", stack))
    [container] = farm.of(stack, "h1")
    source = farm.inspect("h1", container.id, "{{range .Mounts}}{{.Source}}{{end}}")
    assert source == f"/root/{host_home_folder}"


def test_a_missing_short_syntax_folder_is_a_note_and_up_lets_compose_create_it(
    farm: Farm,
) -> None:
    folder = f"/tmp/cf-created-{uuid.uuid4().hex}"
    extra = f"    volumes:\n      - {folder}:/data\n"
    stack = farm.stack("created", "h1", sleep_stack(farm.lab.image, extra=extra))

    done = farm.cf("check")

    assert done.returncode == 0 and _problems(done) == [], done
    note = f"{stack} on h1: bind-mount source {folder} (Compose will create it as an empty folder)"
    assert note in done.stdout, done
    ok(farm.cf("up", stack))
    assert farm.where(stack) == {"h1"}
    assert farm.lab.host_exec("h1", ["test", "-d", folder], check=False).returncode == 0
    farm.lab.host_exec("h1", ["rmdir", folder], check=False)


# --- --local: never touches SSH ----------------------------------------------------------


@pytest.mark.xdist_group("faults")
@pytest.mark.farm(hosts=("h7", "h8"), exclusive=True)
def test_check_local_never_logs_in_and_compares_config_with_disk(farm: Farm) -> None:
    """On h7 and h8, where no other test logs in while this one holds their lock."""
    lab = farm.lab
    present = farm.stack("present", "h7")
    ghost = farm.name("ghost")
    farm.place(ghost, "h8")  # in the config, no folder
    unlisted = farm.folder_only("unlisted")  # a folder, not in the config
    logins = {h: lab.ssh_logins(h) for h in ("h7", "h8")}

    done = farm.cf("check", "--local")

    assert done.returncode == 1, done
    assert {h: lab.ssh_logins(h) for h in ("h7", "h8")} == logins, done
    assert _problems(done) == [f"{ghost}: no compose file in {lab.compose_dir / ghost}"]
    assert f"note: {unlisted}: a compose folder that is not in the config" in done.stdout
    assert present not in done.output, done

    # The counter is live: a check that does go to the hosts logs in on each.
    remote = farm.cf("check")
    assert remote.returncode == 1, remote
    for host, before in logins.items():
        assert lab.ssh_logins(host) > before, host
