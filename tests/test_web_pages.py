"""The web UI's pages as data: template names and contexts, checked against the lab's engines.

Each test builds the app over its own config in tmp_path (``create_app``),
logs in with the one-time token and reads ``response.template`` /
``response.context``. What runs where is asked of the hosts' engines
(``lab.docker``), never taken from the page alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from compose_farm.web.auth import CSRF_HEADER
from compose_farm.web.views import Dashboard, StackPage
from tests.lab import Lab
from tests.support.farm import Farm as LabFarm
from tests.support.farm import open_farm
from tests.support.stacks import sleep_stack, slow_stack
from tests.support.web import (
    context_of,
    csrf_of,
    farm_of,
    follow_task,
    post_action,
    project_containers,
    template_of,
    web_client,
)

pytestmark = pytest.mark.lab

HOSTS = ("h1", "h2", "h3")
HTML = {"accept": "text/html"}

# Two services; the proxy carries Traefik router rules the stack page turns into links.
WEB_STACK = """\
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
  proxy:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: "Host(`web.example.test`) || Host(`alt.example.test`)"
      traefik.http.routers.api.rule: "Host(`web.example.test`) && PathPrefix(`/api`)"
      traefik.http.services.site.loadbalancer.server.port: "8080"
"""


@pytest.fixture
def farm(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabFarm]:
    """A farm over h1..h3; HOME is the lab client's (the executor's SSH key and known_hosts)."""
    monkeypatch.setenv("HOME", str(lab.client_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the editors' backups
    with open_farm(lab, tmp_path / "farm", HOSTS) as f:
        yield f


@pytest.fixture
def client(farm: LabFarm) -> Iterator[TestClient]:
    with web_client(farm.config_path) as c:
        yield c


def dashboard(client: TestClient) -> Dashboard:
    response = client.get("/", headers=HTML)
    assert response.status_code == 200, response.text
    assert template_of(response) == "dashboard.html"
    page: Dashboard = context_of(response)["page"]
    return page


def fresh(client: TestClient) -> None:
    """Drop the app's 2-second snapshot cache after changing the hosts behind its back (cf up)."""
    farm_of(client).invalidate()


def statuses(page: Dashboard) -> dict[str, dict[str, str]]:
    """host -> {stack: status} as the dashboard puts them."""
    return {
        host: {row.name: ("running" if host in row.running else row.status) for row in rows}
        for host, rows in page.stacks_by_host.items()
    }


def test_dashboard_lists_hosts_stacks_by_host_and_the_pending_plan(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    web = farm.stack("web", "h1", WEB_STACK.format(image=lab.image))
    pair = farm.stack("pair", ["h2", "h3"])
    idle = farm.stack("idle", "h3")

    page = dashboard(client)

    assert [(h.name, h.address, h.reachable, h.error) for h in page.hosts] == [
        (name, lab.host(name).address, True, None) for name in HOSTS
    ]
    assert statuses(page) == {
        "h1": {web: "stopped"},
        "h2": {pair: "stopped"},
        "h3": {pair: "stopped", idle: "stopped"},
    }
    assert farm.on_engines() == {}
    starts = {s.title: s.lines for s in page.plan}
    assert list(starts) == ["Start"]
    assert sorted(line.split("  (")[0] for line in starts["Start"]) == sorted(
        [f"{web} on h1", f"{pair} on h2, h3", f"{idle} on h3"]
    )
    assert page.pending == 3

    assert (up := farm.cf("up", web, pair)).returncode == 0, up
    fresh(client)
    page = dashboard(client)

    engines = farm.on_engines()
    assert engines == {web: {"h1": "running"}, pair: {"h2": "running", "h3": "running"}}
    assert statuses(page) == {
        "h1": {web: "running"},
        "h2": {pair: "running"},
        "h3": {pair: "running", idle: "stopped"},
    }
    rows = {row.name: row for rows in page.stacks_by_host.values() for row in rows}
    assert (rows[pair].configured, rows[pair].recorded, rows[pair].running) == (
        ("h2", "h3"),
        ("h2", "h3"),
        ("h2", "h3"),
    )
    assert rows[web].status == "running"
    assert rows[idle].status == "stopped"
    for host in page.hosts:  # every running container of ours is counted on its host
        ours = sum(1 for c in farm.containers([host.name]) if c.state == "running")
        assert host.running >= ours > 0
    assert [(s.title, [line.split("  (")[0] for line in s.lines]) for s in page.plan] == [
        ("Start", [f"{idle} on h3"])
    ]

    assert (up := farm.cf("up", idle)).returncode == 0, up
    fresh(client)
    page = dashboard(client)
    assert page.plan == []
    assert page.pending == 0
    assert statuses(page)["h3"] == {pair: "running", idle: "running"}


def test_each_partial_renders_its_template_from_the_same_data(
    farm: LabFarm, client: TestClient
) -> None:
    one = farm.stack("one", "h2")
    whole = dashboard(client)

    for name in ("hosts", "stacks", "plan", "tasks"):
        response = client.get(f"/partials/{name}")
        assert response.status_code == 200, (name, response.text)
        assert template_of(response) == f"partials/{name}.html"
        context = context_of(response)
        page: Dashboard = context["page"]  # other tests' containers may come and go meanwhile
        assert page.stacks_by_host == whole.stacks_by_host, name
        assert (page.plan, page.pending) == (whole.plan, whole.pending), name
        assert [(h.name, h.reachable) for h in page.hosts] == [(h, True) for h in HOSTS]
        assert context["tasks"] == []

    stacks = client.get("/partials/stacks").text
    assert f'data-stack="{one}" data-status="stopped"' in stacks
    hosts = client.get("/partials/hosts").text
    assert all(f'data-host="{h}"' in hosts for h in HOSTS)
    assert f"{one} on h2" in client.get("/partials/plan").text
    assert client.get("/partials/nope").status_code == 404


def test_stack_page_shows_the_engines_containers_links_and_files(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    web = farm.stack("web", "h1", WEB_STACK.format(image=lab.image))
    assert (up := farm.cf("up", web)).returncode == 0, up

    response = client.get(f"/stack/{web}", headers=HTML)

    assert response.status_code == 200, response.text
    assert template_of(response) == "stack.html"
    page: StackPage = context_of(response)["page"]
    on_engines = {
        (host, name, state)
        for host in HOSTS
        for name, state in project_containers(lab.docker, host, web).items()
    }
    assert len(on_engines) == 2
    assert {(c.host, c.name, c.state) for c in page.containers} == on_engines
    assert {c.service for c in page.containers} == {"app", "proxy"}
    assert page.configured == ("h1",)
    assert page.recorded == ("h1",)
    assert page.links == ["http://web.example.test", "http://alt.example.test"]  # no TLS
    assert page.files == ["compose.yaml", ".env"]
    assert page.services == ["app", "proxy"]
    assert page.unreachable == {}
    assert page.error is None

    status = client.get(f"/stack/{web}/status")
    assert status.status_code == 200, status.text
    assert template_of(status) == "partials/containers.html"
    again: StackPage = context_of(status)["page"]
    assert {(c.host, c.name, c.state) for c in again.containers} == on_engines
    assert (again.name, again.links, again.files) == (page.name, page.links, page.files)
    for _host, name, _state in on_engines:
        assert name in status.text

    assert client.get("/stack/not-configured", headers=HTML).status_code == 404
    assert client.get("/stack/not-configured/status").status_code == 404


def test_the_palette_gets_every_stacks_containers_by_id_and_the_stack_page_a_stop_button(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    web = farm.stack("web", "h1", WEB_STACK.format(image=lab.image))
    pair = farm.stack("pair", ["h2", "h3"])
    idle = farm.stack("idle", "h3")
    assert (up := farm.cf("up", web, pair)).returncode == 0, up

    answer = client.get("/api/containers")

    assert answer.status_code == 200, answer.text
    on_engines = [
        {"stack": c.project, "service": c.service, "host": c.host, "id": c.id, "name": c.name}
        for c in farm.containers()
    ]
    assert len(on_engines) == 4
    key = lambda c: (c["stack"], c["service"], c["host"])  # noqa: E731
    assert answer.json() == sorted(on_engines, key=key)
    assert idle not in {c["stack"] for c in answer.json()}

    page = client.get(f"/stack/{web}", headers=HTML).text
    assert f'id="action-stop" hx-post="/api/stack/{web}/stop"' in page
    assert f'data-palette="Stop {web}"' in page


def test_stack_page_of_a_stopped_stack_has_no_containers(farm: LabFarm, client: TestClient) -> None:
    idle = farm.stack("idle", "h3")

    page: StackPage = context_of(client.get(f"/stack/{idle}", headers=HTML))["page"]

    assert page.containers == []
    assert page.recorded == ()
    assert page.links == []
    assert "No containers of this stack" in client.get(f"/stack/{idle}/status").text


def test_console_page_offers_every_configured_host(farm: LabFarm, client: TestClient) -> None:
    response = client.get("/console", headers=HTML)

    assert response.status_code == 200
    assert template_of(response) == "console.html"
    context = context_of(response)
    assert list(context["config"].hosts) == list(HOSTS)
    assert context["config"].path == farm.config_path
    assert context["session"].csrf
    for host in HOSTS:
        assert f'<option value="{host}">' in response.text


def test_up_action_runs_in_the_background_and_streams_to_done(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    slow = farm.stack("slow", "h2", slow_stack(lab.image))
    csrf = csrf_of(client)
    assert context_of(client.get("/partials/tasks"))["tasks"] == []  # and the snapshot is cached

    started = client.post(f"/api/stack/{slow}/up", headers={CSRF_HEADER: csrf})

    assert started.status_code == 200, started.text
    task = started.json()["task"]
    assert task in started.headers["HX-Trigger"]
    assert [t["done"] for t in client.get("/api/tasks").json()] == [False]
    running = client.get("/partials/tasks")  # `up` waits for the health check: still running
    assert [t.id for t in context_of(running)["tasks"]] == [task]
    assert f'data-task="{task}"' in running.text

    items = follow_task(client, task)

    assert items[-1] == {"type": "done", "ok": True, "summary": "up: 1 stacks ok"}
    lines = [i for i in items if i["type"] == "line"]
    assert lines, items
    assert {(i["stack"], i["host"]) for i in lines} == {(slow, "h2")}
    assert farm.on_engines() == {slow: {"h2": "running"}}
    assert farm.state() == {slow: ("h2",)}
    listed = {t["id"]: t for t in client.get("/api/tasks").json()}
    assert (listed[task]["done"], listed[task]["ok"], listed[task]["title"]) == (
        True,
        True,
        f"Up {slow}",
    )
    assert context_of(client.get("/partials/tasks"))["tasks"] == []
    # A page that reconnects after the end replays everything, then `done`.
    assert follow_task(client, task) == items


def test_compose_editor_saves_with_a_backup_and_refuses_invalid_yaml(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    stack = farm.stack("edit", "h1")
    path = lab.compose_dir / stack / "compose.yaml"
    original = path.read_text()
    assert (up := farm.cf("up", stack)).returncode == 0, up
    csrf = csrf_of(client)
    url = f"/api/stack/{stack}/file/compose.yaml"

    read = client.get(url)
    assert read.status_code == 200
    assert read.json() == {"path": str(path), "text": original}

    changed = sleep_stack(lab.image, extra="    environment:\n      MARK: edited\n")
    saved = client.post(url, json={"text": changed}, headers={CSRF_HEADER: csrf})

    assert saved.status_code == 200, saved.text
    assert path.read_text() == changed
    backup = Path(saved.json()["backup"])
    assert backup.parent == farm_of(client).backups.root / stack  # on this machine only
    assert sorted(p.name for p in path.parent.iterdir()) == ["compose.yaml"]
    assert backup.read_text() == original
    assert client.get(url).json()["text"] == changed
    (container,) = project_containers(lab.docker, "h1", stack)
    env = lab.docker("h1", "inspect", "-f", "{{json .Config.Env}}", container).stdout
    assert "MARK=edited" not in env  # saving changes the file, not the host

    items = follow_task(client, post_action(client, f"/api/stack/{stack}/up", csrf))
    assert items[-1]["ok"] is True, items
    (container,) = project_containers(lab.docker, "h1", stack)
    env = lab.docker("h1", "inspect", "-f", "{{json .Config.Env}}", container).stdout
    assert "MARK=edited" in env

    broken = "services:\n  app:\n    image: [unclosed\n    command: sleep\n"
    refused = client.post(url, json={"text": broken}, headers={CSRF_HEADER: csrf})
    assert refused.status_code == 400
    assert f"{path}:4" in refused.json()["detail"], refused.json()
    bad_port = sleep_stack(lab.image, extra='    ports: ["8080:http"]\n')  # valid YAML
    refused = client.post(url, json={"text": bad_port}, headers={CSRF_HEADER: csrf})
    assert refused.status_code == 400
    assert f"{path}:7: services.app.ports[0]" in refused.json()["detail"], refused.json()
    assert path.read_text() == changed
    assert len(list(backup.parent.iterdir())) == 1

    dotenv = client.post(
        f"/api/stack/{stack}/file/.env", json={"text": "A=1\n"}, headers={CSRF_HEADER: csrf}
    )
    assert dotenv.status_code == 200, dotenv.text
    assert dotenv.json()["backup"] is None  # a new file has nothing to back up
    assert (path.parent / ".env").read_text() == "A=1\n"


def test_config_editor_saves_valid_changes_and_names_the_line_of_a_bad_one(
    farm: LabFarm, client: TestClient
) -> None:
    idle = farm.stack("idle", "h3")
    csrf = csrf_of(client)
    original = farm.config_path.read_text()

    read = client.get("/api/config")
    assert read.json() == {"path": str(farm.config_path), "text": original}

    moved = original.replace(f"  {idle}: h3\n", f"  {idle}: h2\n")
    assert moved != original
    saved = client.post("/api/config", json={"text": moved}, headers={CSRF_HEADER: csrf})

    assert saved.status_code == 200, saved.text
    assert farm.config_path.read_text() == moved
    backup = Path(saved.json()["backup"])
    assert backup.parent == farm_of(client).backups.root / "_config"
    assert backup.read_text() == original
    page = dashboard(client)
    assert [row.name for row in page.stacks_by_host["h2"]] == [idle]
    assert page.stacks_by_host["h3"] == []

    cases = {
        "compose_dir: /srv\nhosts:\n  h1: {address: 10.0.0.1\n": ":4: YAML syntax error",
        moved + "bogus: 1\n": "bogus: unknown key",
        moved.replace(f"  {idle}: h2\n", f"  {idle}: h9\n"): f"stacks.{idle}: unknown host 'h9'",
    }
    for text, expected in cases.items():
        refused = client.post("/api/config", json={"text": text}, headers={CSRF_HEADER: csrf})
        assert refused.status_code == 400, text
        detail = refused.json()["detail"]
        assert detail.startswith(f"{farm.config_path}:"), detail
        assert expected in detail, detail
    assert farm.config_path.read_text() == moved
    assert len(list(backup.parent.iterdir())) == 1


def test_compose_editor_refuses_what_compose_itself_refuses(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    stack = farm.stack("strict", "h1")
    path = lab.compose_dir / stack / "compose.yaml"
    original = path.read_text()
    csrf = csrf_of(client)
    for text in (
        "services:\n  app:\n    command: [sleep, '1']\n",
        f"services:\n  app:\n    image: {lab.image}\n    environment: 3\n",
    ):
        (folder := lab.compose_dir / f"{stack}-probe").mkdir()
        try:  # what Compose itself says about the text
            (folder / "compose.yaml").write_text(text)
            probe = lab.docker("h1", "compose", "--project-directory", str(folder), "config", "-q")
        finally:
            shutil.rmtree(folder)
        assert probe.returncode != 0, text

        saved = client.post(
            f"/api/stack/{stack}/file/compose.yaml",
            json={"text": text},
            headers={CSRF_HEADER: csrf},
        )

        assert saved.status_code == 400, (text, saved.text)
        assert path.read_text() == original


TALKING = """\
services:
  one:
    image: {image}
    command: ["sh", "-c", "echo from-one; exec sleep 3600"]
    init: true
    stop_grace_period: 1s
  two:
    image: {image}
    command: ["sh", "-c", "echo from-two; exec sleep 3600"]
    init: true
    stop_grace_period: 1s
"""


def test_container_logs_follow_one_service_on_one_host(
    farm: LabFarm, client: TestClient, lab: Lab
) -> None:
    stack = farm.stack("talk", ["h1", "h3"], TALKING.format(image=lab.image))
    assert farm.cf("up", stack).returncode == 0
    origin = {"origin": "http://testserver"}
    two = farm.ids(stack)[("h3", "two")]  # what the stack page's per-container button sends
    for query in ("host=h3&service=two", f"host=h3&container={two}"):
        with client.websocket_connect(f"/ws/logs/{stack}?tail=10&{query}", headers=origin) as ws:
            item = ws.receive_json()
        assert (item["host"], item["stack"]) == ("h3", stack), query
        assert "from-two" in item["text"] and "from-one" not in item["text"], query
    for bad, reason in (
        ("host=..", "host '..' contains '..'"),
        ("service=a;b", "service 'a;b' is not a safe name"),
        ("service=$(id)", "service '$(id)' is not a safe name"),
        ("host=h3&container=two", "container id 'two' is not a container id"),
    ):
        with (
            client.websocket_connect(f"/ws/logs/{stack}?{bad}", headers=origin) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert closed.value.code == 4400  # refused before anything ran
        assert closed.value.reason.startswith(reason), closed.value.reason
    other = farm.ids(stack)[("h1", "two")]  # a real container of the stack, not on h3
    with (
        client.websocket_connect(
            f"/ws/logs/{stack}?host=h3&container={other}", headers=origin
        ) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 4404


def here(page: Dashboard) -> dict[str, dict[str, str]]:
    """host -> {stack: what its card shows there}."""
    return {h: {r.name: r.here for r in rows} for h, rows in page.stacks_by_host.items()}


def test_the_dashboard_shows_a_moving_stack_where_it_runs_and_an_orphan_at_all(
    farm: LabFarm, client: TestClient
) -> None:
    mover = farm.stack("mover", "h1")
    assert (up := farm.cf("up", mover)).returncode == 0, up

    farm.place(mover, "h2")  # the config says h2; nothing applied yet
    fresh(client)
    page = dashboard(client)

    assert farm.where(mover) == {"h1"}  # the engines: it serves on h1
    assert {h: s.get(mover) for h, s in here(page).items()} == {
        "h1": "leaving",
        "h2": "pending",
        "h3": None,
    }
    notes = {h: r.note for h, rows in page.stacks_by_host.items() for r in rows if r.name == mover}
    assert notes == {"h1": "runs here; configured on h2", "h2": "not started here yet; runs on h1"}

    farm.drop(mover)  # gone from the config, still running and recorded on h1
    fresh(client)
    page = dashboard(client)
    assert {h: s.get(mover) for h, s in here(page).items()} == {
        "h1": "orphan",
        "h2": None,
        "h3": None,
    }
    html = client.get("/partials/stacks").text
    row = html[html.index(f'data-stack="{mover}"') :].split("</tr>")[0]
    assert 'data-status="orphan"' in row and "cf apply stops it" in row
    assert "hx-post" not in row  # no actions on a stack the config does not have

    assert (applied := farm.cf("apply")).returncode == 0, applied
    fresh(client)
    assert farm.where(mover) == set()
    assert all(mover not in s for s in here(dashboard(client)).values())


def test_a_stack_downed_from_the_ui_shows_paused_and_apply_leaves_it_down(
    farm: LabFarm, client: TestClient
) -> None:
    solo = farm.stack("solo", "h2")
    assert (up := farm.cf("up", solo)).returncode == 0, up
    csrf = csrf_of(client)

    task = post_action(client, f"/api/stack/{solo}/down", csrf)
    assert follow_task(client, task)[-1]["ok"] is True
    fresh(client)
    page = dashboard(client)

    assert farm.where(solo) == set()
    assert here(page)["h2"][solo] == "paused"
    assert ("Paused (left down)", (f"{solo}: paused on h2: `cf up {solo}`",)) in [
        (s.title, s.lines) for s in page.plan
    ]
    assert page.pending == 0  # nothing to apply: Apply leaves it down

    applied = post_action(client, "/api/apply", csrf)
    assert follow_task(client, applied)[-1]["ok"] is True
    assert farm.where(solo) == set()
    stack_page = client.get(f"/stack/{solo}").text
    assert 'id="paused"' in stack_page and "paused on h2" in stack_page
