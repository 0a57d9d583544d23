"""The UI's actions succeed on real hosts: each is started over HTTP, followed to its end over
the task WebSocket, and its outcome read from the hosts' engines (``docker ps`` /
``inspect``), never from the task's own output.

Farm-wide: Apply, Refresh, Pull all, Update all. One stack: Pull, Update and Stop.
One container: restart (its StartedAt moves, its id and its neighbour's do not).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from compose_farm.web.views import StackPage
from tests.lab import Lab
from tests.support.cf import ok
from tests.support.engines import repo_digest
from tests.support.farm import Farm, on, open_farm
from tests.support.stacks import sleep_stack
from tests.support.web import context_of, csrf_of, farm_of, follow_task, post_action, web_client

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

HOSTS = ("h1", "h2", "h3")


@pytest.fixture
def farm(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Farm]:
    monkeypatch.setenv("HOME", str(lab.client_home))  # the executor's SSH key and known_hosts
    with open_farm(lab, tmp_path / "farm", HOSTS) as f:
        yield f


@pytest.fixture
def client(farm: Farm) -> Iterator[TestClient]:
    with web_client(farm.config_path) as c:
        yield c


def run(client: TestClient, path: str) -> list[dict[str, Any]]:
    """POST an action, follow it to ``done``, and require that it succeeded."""
    items = follow_task(client, post_action(client, path, csrf_of(client)))
    assert items[-1]["type"] == "done" and items[-1]["ok"] is True, items
    return items


def image_id(lab: Lab, host: str, ref: str) -> str:
    """The id of the image ``ref`` names on ``host``'s engine now."""
    done = lab.docker(host, "image", "inspect", "-f", "{{.Id}}", ref)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_apply_starts_the_plan_and_a_second_apply_changes_nothing(
    farm: Farm, client: TestClient
) -> None:
    one = farm.stack("one", "h1")
    pair = farm.stack("pair", ["h2", "h3"])
    assert farm.on_engines() == {}

    run(client, "/api/apply")

    assert farm.on_engines() == {one: on("h1"), pair: on("h2", "h3")}
    assert farm.state() == {one: ("h1",), pair: ("h2", "h3")}
    engines = farm.snapshot()

    run(client, "/api/apply")

    assert farm.snapshot() == engines  # same containers, same ids: nothing was redone


def test_refresh_records_what_the_engines_run_and_changes_nothing_there(
    farm: Farm, client: TestClient
) -> None:
    kept = farm.stack("kept", "h1")
    by_hand = farm.stack("byhand", "h2")  # started on the host itself: state does not know it
    gone = farm.stack("gone", "h3")  # stopped on the host itself: state still has it
    ok(farm.cf("up", kept, gone))
    farm.hand_compose("h2", by_hand, "up", "-d")
    farm.hand_compose("h3", gone, "down")
    assert farm.state() == {kept: ("h1",), gone: ("h3",)}
    engines = farm.snapshot()

    run(client, "/api/refresh")

    assert farm.placement() == {kept: {"h1"}, by_hand: {"h2"}}
    assert farm.state() == {kept: ("h1",), by_hand: ("h2",)}  # exactly what the engines run
    assert farm.snapshot() == engines


def test_pull_then_update_of_one_stack_move_its_host_to_the_new_image(
    farm: Farm, client: TestClient, lab: Lab
) -> None:
    ref = f"cfweb-{uuid.uuid4().hex[:12]}:1"
    v1 = lab.push_image(ref, "v1")
    stack = farm.stack("img", "h1", sleep_stack(v1.ref))
    other = farm.stack("other", "h1", sleep_stack(v1.ref))  # same image: must not be touched
    ok(farm.cf("up", stack, other))
    before = farm.snapshot()
    (cid, _), (other_cid, _) = before[(stack, "h1", "app")], before[(other, "h1", "app")]
    old_image = farm.inspect("h1", cid, "{{.Image}}")
    v2 = lab.push_image(ref, "v2")

    run(client, f"/api/stack/{stack}/pull")

    assert repo_digest(lab, "h1", v1.ref) == v2.digest  # the new image is on h1 ...
    assert farm.snapshot() == before  # ... and nothing was recreated by a pull
    assert farm.inspect("h1", cid, "{{.Image}}") == old_image

    run(client, f"/api/stack/{stack}/update")

    after = farm.snapshot()
    new_cid, state = after[(stack, "h1", "app")]
    assert (state, new_cid != cid) == ("running", True)
    assert farm.inspect("h1", new_cid, "{{.Image}}") == image_id(lab, "h1", v1.ref) != old_image
    assert after[(other, "h1", "app")] == (other_cid, "running")  # update is per stack


def test_pull_all_then_update_all_reach_every_stack_on_every_host(
    farm: Farm, client: TestClient, lab: Lab
) -> None:
    refs = {host: f"cfweb-{uuid.uuid4().hex[:12]}:1" for host in ("h2", "h3")}
    old = {host: lab.push_image(ref, f"v1-{host}") for host, ref in refs.items()}
    stacks = {host: farm.stack(f"on-{host}", host, sleep_stack(old[host].ref)) for host in refs}
    ok(farm.cf("up", *stacks.values()))
    before = farm.snapshot()
    new = {host: lab.push_image(ref, f"v2-{host}") for host, ref in refs.items()}

    run(client, "/api/pull-all")

    for host, ref in refs.items():
        assert repo_digest(lab, host, old[host].ref) == new[host].digest, (host, ref)
    assert farm.snapshot() == before

    run(client, "/api/update-all")

    after = farm.snapshot()
    for host, stack in stacks.items():
        cid, state = after[(stack, host, "app")]
        assert (state, cid != before[(stack, host, "app")][0]) == ("running", True), host
        assert farm.inspect(host, cid, "{{.Image}}") == image_id(lab, host, old[host].ref)
    assert farm.placement() == {stack: {host} for host, stack in stacks.items()}


def test_restarting_one_container_restarts_only_it(
    farm: Farm, client: TestClient, lab: Lab
) -> None:
    stack = farm.stack("two", "h3", sleep_stack(lab.image, services=("app", "side")))
    ok(farm.cf("up", stack))
    ids = farm.ids(stack)
    started = {
        service: farm.inspect(host, cid, "{{.State.StartedAt}}")
        for (host, service), cid in ids.items()
    }
    farm_of(client).invalidate()
    page: StackPage = context_of(client.get(f"/stack/{stack}/status"))["page"]
    [row] = [c for c in page.containers if c.service == "app"]
    assert (row.host, row.id) == ("h3", ids[("h3", "app")])  # the page names it by id

    run(client, f"/api/stack/{stack}/container/h3/{row.id}/restart")

    assert farm.ids(stack) == ids  # restarted in place, not recreated
    now = {
        service: farm.inspect(host, cid, "{{.State.StartedAt}}")
        for (host, service), cid in ids.items()
    }
    assert now["app"] != started["app"], (started, now)
    assert now["side"] == started["side"]
    assert farm.on_engines() == {stack: on("h3")}


def test_stop_stops_a_stacks_containers_and_keeps_them_and_its_place(
    farm: Farm, client: TestClient, lab: Lab
) -> None:
    stack = farm.stack("halt", "h2", sleep_stack(lab.image, services=("app", "side")))
    other = farm.stack("going", "h2")
    ok(farm.cf("up", stack, other))
    before = farm.snapshot()

    items = run(client, f"/api/stack/{stack}/stop")

    assert items[-1]["summary"] == "stop: 1 stacks ok"
    after = farm.snapshot()
    for service in ("app", "side"):  # the same containers, stopped, not removed
        assert after[(stack, "h2", service)] == (before[(stack, "h2", service)][0], "exited")
    assert after[(other, "h2", "app")] == before[(other, "h2", "app")]
    assert farm.state() == {stack: ("h2",), other: ("h2",)}  # still deployed there, as `cf stop`


def test_an_action_waits_for_the_farm_lock_a_cli_apply_holds(
    farm: Farm, client: TestClient
) -> None:
    from compose_farm.config import load_config
    from compose_farm.farmlock import farm_lock
    from tests.support.web import ORIGIN

    one = farm.stack("locked", "h1")
    lock = load_config(farm.config_path).farm_lock_path
    with farm_lock(lock, lambda _t: None):  # as `cf apply` holds it while it runs
        task = post_action(client, "/api/apply", csrf_of(client))
        with client.websocket_connect(f"/ws/tasks/{task}", headers={"origin": ORIGIN}) as ws:
            while "waiting for cf pid" not in str(item := ws.receive_json()):
                assert item["type"] != "done", item
            assert farm.on_engines() == {}  # told to wait, and nothing was started
    items = follow_task(client, task)
    assert items[-1]["type"] == "done" and items[-1]["ok"] is True, items
    assert farm.on_engines() == {one: on("h1")}


def test_check_updates_shows_the_badge_and_rollback_undoes_the_update(
    farm: Farm, client: TestClient, lab: Lab
) -> None:
    ref = f"cfweb-{uuid.uuid4().hex[:12]}:1"
    v1 = lab.push_image(ref, "v1")
    stack = farm.stack("badge", "h2", sleep_stack(v1.ref))
    ok(farm.cf("up", stack))
    [(cid, _)] = [v for k, v in farm.snapshot().items() if k[0] == stack]
    old_image = farm.inspect("h2", cid, "{{.Image}}")

    run(client, "/api/outdated")
    assert "data-update" not in client.get("/partials/stacks").text  # up to date

    lab.push_image(ref, "v2")
    run(client, "/api/outdated")
    assert (
        f'data-stack="{stack}" data-status="running" data-update="1"'
        in client.get("/partials/stacks").text
    )
    assert "update available" in client.get(f"/stack/{stack}/status").text
    assert image_id(lab, "h2", v1.ref) == old_image  # checking pulled nothing

    run(client, f"/api/stack/{stack}/update")
    [(new_cid, _)] = [v for k, v in farm.snapshot().items() if k[0] == stack]
    assert farm.inspect("h2", new_cid, "{{.Image}}") != old_image
    assert "data-update" not in client.get("/partials/stacks").text  # updated: no stale badge

    run(client, f"/api/stack/{stack}/rollback")
    [(back_cid, _)] = [v for k, v in farm.snapshot().items() if k[0] == stack]
    assert farm.inspect("h2", back_cid, "{{.Image}}") == old_image
