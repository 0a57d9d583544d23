"""``.env`` values never reach the browser from container data or Compose errors.

No lab: the hosts are ``tests/webfake.py``'s, which list a container whose
name, image, status and ports carry the secret (as ``container_name:
app-${SECRET}`` and friends would), and record what the app runs. Pages,
partials, page contexts, task output, editor errors and WebSocket frames are
all searched for the secret; actions on the container still reach the real
container, by id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from compose_farm.web.auth import CSRF_HEADER
from compose_farm.web.views import StackPage
from tests.e2e.webfarm import (
    ORIGIN,
    context_of,
    csrf_of,
    follow_task,
    post_action,
    web_client,
    write_config,
)
from tests.webfake import FakeContainer, FakeHosts

SECRET = "hunter2xyz"
CID = "0f" * 32
COMPOSE = """\
services:
  app:
    image: registry.example/${SECRET}:1
    container_name: app-${SECRET}
    command: [sleep, '3600']
"""
BROKEN = COMPOSE + "    ports: ['${SECRET}:x:y:z']\n"
HTML = {"accept": "text/html"}


@dataclass
class Site:
    client: TestClient
    hosts: FakeHosts
    stack_dir: Path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    config = write_config(tmp_path, {"app": COMPOSE})
    stack_dir = config.parent / "stacks" / "app"
    (stack_dir / ".env").write_text(f"SECRET={SECRET}\n")
    container = FakeContainer(
        id=CID,
        project="app",
        service="app",
        working_dir=stack_dir,
        name=f"app-{SECRET}",
        image=f"registry.example/{SECRET}:1",
        status=f"Up 2 minutes ({SECRET})",
        ports=f"{SECRET}:8080->80/tcp",
    )
    hosts = FakeHosts(containers={"h1": [container]}, say=[f"app-{SECRET}  | ready {SECRET}"])
    with web_client(config, executor_factory=hosts.factory()) as client:
        yield Site(client, hosts, stack_dir)


def assert_clean(what: str, text: str) -> None:
    assert SECRET not in text, f"{what} shows the secret: {text}"


def test_stack_pages_and_partials_never_show_the_secret(site: Site) -> None:
    client = site.client
    page = client.get("/stack/app", headers=HTML)
    status = client.get("/stack/app/status")

    for what, response in {"page": page, "status": status}.items():
        assert response.status_code == 200, response.text
        assert_clean(what, response.text)
        data: StackPage = context_of(response)["page"]
        assert_clean(f"{what} context", repr(data))
        [row] = data.containers
        assert (row.host, row.id, row.name, row.running) == ("h1", CID, "app-***", True)
    # The actions name the container by its id; nothing on the page needs its name.
    assert f'hx-post="/api/stack/app/container/h1/{CID}/restart"' in status.text
    assert f'data-shell-container="{CID}"' in status.text
    assert f'data-logs-container="{CID}"' in status.text
    assert "app-***" in status.text
    for path in ("/", "/partials/hosts", "/partials/stacks", "/partials/plan", "/console"):
        assert_clean(path, client.get(path, headers=HTML).text)


def test_a_compose_error_is_masked_on_the_page_and_in_the_editor(site: Site) -> None:
    client = site.client
    csrf = csrf_of(client)
    compose = site.stack_dir / "compose.yaml"

    refused = client.post(
        "/api/stack/app/file/compose.yaml", json={"text": BROKEN}, headers={CSRF_HEADER: csrf}
    )

    assert refused.status_code == 400
    assert "invalid IP address '***:x'" in refused.json()["detail"], refused.text
    assert_clean("editor error", refused.text)
    assert compose.read_text() == COMPOSE

    compose.write_text(BROKEN)  # broken on disk (edited by hand): the page says why
    page = client.get("/stack/app", headers=HTML)
    error = context_of(page)["page"].error
    assert error is not None and "invalid IP address '***:x'" in error, error
    assert_clean("page", page.text)


def test_an_env_saved_in_the_editor_is_masked_at_once(site: Site) -> None:
    client = site.client
    csrf = csrf_of(client)
    fresh = "brandnew-secret-42"
    assert client.get("/stack/app", headers=HTML).status_code == 200  # secrets cached

    saved = client.post(
        "/api/stack/app/file/.env", json={"text": f"SECRET={fresh}\n"}, headers={CSRF_HEADER: csrf}
    )
    refused = client.post(
        "/api/stack/app/file/compose.yaml", json={"text": BROKEN}, headers={CSRF_HEADER: csrf}
    )

    assert saved.status_code == 200, saved.text
    assert refused.status_code == 400
    assert fresh not in refused.text and "'***:x'" in refused.text, refused.text


def test_restart_logs_and_shell_reach_the_container_by_id_and_show_no_secret(
    site: Site,
) -> None:
    client = site.client
    csrf = csrf_of(client)

    task = post_action(client, f"/api/stack/app/container/h1/{CID}/restart", csrf)
    items = follow_task(client, task)
    listed = client.get("/api/tasks").json()
    with client.websocket_connect(
        f"/ws/logs/app?host=h1&container={CID[:12]}", headers={"origin": ORIGIN}
    ) as ws:
        line = ws.receive_json()
    with client.websocket_connect(
        f"/ws/terminal?host=h1&stack=app&container={CID}", headers={"origin": ORIGIN}
    ) as ws:
        ws.send_text('{"type": "input", "data": "id\\n"}')
        assert ws.receive_bytes() == b"echo:id\n"

    assert items[-1]["ok"] is True, items
    assert [t["title"] for t in listed] == ["Restart app-***"]
    for what, text in {"task": repr(items), "tasks": repr(listed), "logs": repr(line)}.items():
        assert_clean(what, text)
    assert line["text"] == "app-***  | ready ***"
    commands = [(host, re.sub(r"^cd \S+ && ", "", shell)) for host, shell in site.hosts.ran]
    assert ("h1", f"exec docker restart {CID}") in commands, commands
    assert ("h1", "exec docker compose logs --follow --no-color --tail 100 app") in commands
    [(host, shell, _term)] = site.hosts.terminals
    assert host == "h1" and shell is not None and f"docker exec -it {CID} sh -c" in shell


@pytest.mark.parametrize(
    ("stack", "host", "cid"),
    [
        ("app", "h1", "ab" * 32),  # no such container
        ("app", "h2", CID),  # right id, wrong host
        ("other", "h1", CID),  # not that stack's
    ],
)
def test_a_container_id_of_nothing_the_stack_runs_is_refused(
    site: Site, stack: str, host: str, cid: str
) -> None:
    csrf = csrf_of(site.client)

    refused = site.client.post(
        f"/api/stack/{stack}/container/{host}/{cid}/restart", headers={CSRF_HEADER: csrf}
    )

    assert refused.status_code == 404, refused.text
    assert site.hosts.ran == []
