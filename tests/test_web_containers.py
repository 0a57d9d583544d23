"""The farm-wide containers page: its data from a hand-made snapshot (pure), the page and its
refresh against the lab's engines, and the page in headless Chromium at a desktop's and a
phone's size (filter, sort, Logs, Shell, Restart), each outcome read from the engines."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from fastapi.testclient import TestClient

from compose_farm.config import load_config
from compose_farm.facts import Container, Facts, HostFacts
from compose_farm.state import State
from compose_farm.web.containers import (
    ContainersPage,
    FarmContainer,
    farm_containers,
    uptime_seconds,
)
from compose_farm.web.farm import Snapshot
from compose_farm.web.views import ContainerRow
from tests.lab import Lab
from tests.support.browser import chromium, logged_in_tab
from tests.support.farm import Farm as LabFarm
from tests.support.farm import open_farm
from tests.support.stacks import sleep_stack
from tests.support.web import (
    WebServer,
    context_of,
    farm_of,
    template_of,
    web_app,
    web_client,
    write_config,
)

HTML = {"accept": "text/html"}
COMPOSE = "services:\n  app:\n    image: busybox\n"

# --- the page's data, pure ---------------------------------------------------------------


def mask(stack: str | None, text: str) -> str:
    """The farm's masking: db's .env value hidden in db's text and in farm-wide text."""
    return text.replace("s3cret", "***") if stack in ("db", None) else text


def ctr(host: str, n: int, project: str, service: str, state: str, status: str) -> Container:
    name = f"{project}-{service}-s3cret" if project == "db" else f"{project}-{service}-1"
    image = "pg:s3cret" if project == "db" else "busybox"
    return Container(
        host, f"{n:x}" * 64, project, service, "", name, image, state, status, "80/tcp"
    )


def test_every_configured_stacks_container_on_every_host_masked_with_its_update_status(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, {"web": COMPOSE, "db": COMPOSE}))
    on_h1 = (
        ctr("h1", 1, "web", "app", "running", "Up 2 hours (healthy)"),
        ctr("h1", 2, "db", "pg", "running", "Up About a minute"),
        ctr("h1", 3, "stray", "x", "running", "Up 1 second"),  # no stack of the config
    )
    on_h2 = (
        ctr("h2", 4, "web", "app", "exited", "Exited (137) 3 minutes ago"),
        ctr("h2", 5, "db", "pg", "running", "Up 5 days"),
    )
    owners = {(c.host, c.id): c.project for c in (*on_h1, *on_h2)}
    facts = Facts(
        {
            "h1": HostFacts("h1", on_h1),
            "h2": HostFacts("h2", on_h2),
            "h3": HostFacts("h3", error="h3 (10.251.0.13): timed out; key s3cret"),
        },
        owners,
    )
    updates = (
        {"stack": "web", "host": "h1", "service": "app", "image": "busybox"}
        | {"status": "update available"},
        # db on h2 was checked on another image: recreated since, so not judged
        {"stack": "db", "host": "h2", "service": "pg", "image": "pg:15", "status": "up to date"},
        {"stack": "db", "host": "h1", "service": "pg", "image": "pg:s3cret"}
        | {"status": "up to date"},
    )
    snap = Snapshot(config, State(), facts, 0.0, updates)

    page = farm_containers(snap, mask)

    def row(stack: str, c: Container, update: str, uptime: int) -> FarmContainer:
        masked = mask(stack, c.name), mask(stack, c.image)
        shown = ContainerRow(
            c.host, c.id, c.service, masked[0], masked[1], c.state, c.status, c.ports,
            c.running, update,
        )  # fmt: skip
        return FarmContainer(stack, shown, uptime)

    assert page == ContainersPage(
        rows=[
            row("db", on_h1[1], "up to date", 60),
            row("web", on_h1[0], "update available", 7200),
            row("db", on_h2[1], "", 5 * 86400),
            row("web", on_h2[0], "", -1),
        ],
        unreachable={"h3": "h3 (10.251.0.13): timed out; key ***"},
        hosts=["h1", "h2"],
    )
    assert page.running == 3
    assert [r.container.name for r in page.rows[::2]] == ["db-pg-***", "db-pg-***"]
    assert "s3cret" not in repr(page)


def test_a_farm_whose_hosts_all_failed_has_no_rows_and_says_why_for_each(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"web": COMPOSE}))
    facts = Facts({h: HostFacts(h, error=f"{h}: connection refused") for h in ("h1", "h2", "h3")})

    page = farm_containers(Snapshot(config, State(), facts, 0.0), mask)

    assert page.rows == [] and page.hosts == [] and page.running == 0
    assert page.unreachable == {h: f"{h}: connection refused" for h in ("h1", "h2", "h3")}


@pytest.mark.parametrize(
    ("status", "seconds"),
    [
        ("Up Less than a second", 0),
        ("Up 1 second", 1),
        ("Up 42 seconds", 42),
        ("Up About a minute", 60),
        ("Up 7 minutes (healthy)", 420),
        ("Up About an hour", 3600),
        ("Up 3 hours (Paused)", 3 * 3600),
        ("Up 2 days", 2 * 86400),
        ("Up 3 weeks", 21 * 86400),
        ("Up 4 months", 120 * 86400),
        ("Up 2 years", 730 * 86400),
        ("Up 5 minutes (health: starting)", 300),
        ("Exited (0) 5 minutes ago", None),
        ("Restarting (1) 3 seconds ago", None),
        ("Created", None),
        ("Dead", None),
        ("", None),
    ],
)
def test_uptime_is_read_from_dockers_status_text(status: str, seconds: int | None) -> None:
    assert uptime_seconds(status) == seconds


# --- the page against the lab -------------------------------------------------------------

TALKING = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "echo hello-from-the-log; exec sleep 3600"]
    init: true
    stop_grace_period: 1s
"""

PAIR = """\
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
  side:
    image: {side}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
"""

NAMED = """\
services:
  app:
    image: {image}
    container_name: solo-${{SECRET}}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
"""


def on_engine(lab: Lab, host: str, stack: str) -> set[tuple[str, str, str, str]]:
    """(host, id, state, image) of ``stack``'s containers, from ``host``'s engine."""
    done = lab.docker(
        host,
        "ps",
        "--all",
        "--no-trunc",
        "--filter",
        f"label=com.docker.compose.project={stack}",
        "--format",
        "{{json .ID}} {{json .State}} {{json .Image}}",
    )
    assert done.returncode == 0, done.stderr
    found = set()
    for line in done.stdout.splitlines():
        cid, state, image = (json.loads(part) for part in line.split(" "))
        found.add((host, cid, state, image))
    return found


def add_dead_host(farm: LabFarm) -> None:
    """Add a host ``ghost`` to the farm's config: h1's address, on a port where no sshd
    listens (refused at once)."""
    data = yaml.safe_load(farm.config_path.read_text())
    data["hosts"]["ghost"] = {"address": farm.lab.host("h1").address, "port": 1, "user": "root"}
    farm.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.lab
def test_the_page_lists_what_the_engines_run_and_names_the_host_that_did_not_answer(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(lab.client_home))  # the executor's key and known_hosts
    with open_farm(lab, tmp_path / "farm", ("h1", "h2")) as farm:
        first = lab.push_image(f"{farm.prefix}-live:1", f"{farm.prefix}-v1")
        pair = farm.stack("pair", "h1", PAIR.format(image=first.ref, side=lab.image))
        secret = f"hush{uuid.uuid4().hex[:12]}"  # the engine names solo's container with it
        solo = farm.stack("solo", "h2", NAMED.format(image=lab.image), env=f"SECRET={secret}\n")
        halt = farm.stack("halt", ["h1", "h2"])
        idle = farm.stack("idle", "h2")  # never started: no rows
        assert (up := farm.cf("up", pair, solo, halt)).returncode == 0, up
        assert (stop := farm.cf("stop", halt)).returncode == 0, stop
        lab.push_image(first.ref, f"{farm.prefix}-v2")  # app's tag moves on in the registry
        assert (check := farm.cf("outdated", pair)).returncode == 0, check
        add_dead_host(farm)

        with web_client(farm.config_path) as client:
            response = client.get("/containers", headers=HTML)

            assert response.status_code == 200, response.text
            assert template_of(response) == "containers.html"
            page: ContainersPage = context_of(response)["page"]
            engines = {
                c
                for host in ("h1", "h2")
                for s in (pair, solo, halt)
                for c in on_engine(lab, host, s)
            }
            rows = {
                (r.container.host, r.container.id, r.container.state, r.container.image)
                for r in page.rows
            }
            assert rows == engines
            assert len(engines) == 5
            assert {r.stack for r in page.rows} == {pair, solo, halt}  # not idle, nor others'
            (named,) = [r.container for r in page.rows if r.stack == solo]
            assert lab.docker("h2", "inspect", "-f", "{{.Name}}", named.id).stdout.strip() == (
                f"/solo-{secret}"
            )
            assert named.name == "solo-***" and secret not in response.text
            assert f'data-stack="{idle}"' not in response.text
            assert {(r.stack, r.container.service, r.container.update) for r in page.rows} == {
                (pair, "app", "update available"),  # by the last `cf outdated`
                (pair, "side", "up to date"),
                (solo, "app", ""),  # not checked
                (halt, "app", ""),
            }
            assert response.text.count('<span class="badge warn"') == 1
            assert {r.container.state for r in page.rows if r.stack == halt} == {"exited"}
            assert all((r.uptime >= 0) == (r.stack != halt) for r in page.rows)
            assert page.hosts == ["h1", "h2"]
            assert list(page.unreachable) == ["ghost"]
            h1 = lab.host("h1").address
            assert page.unreachable["ghost"].startswith(
                f"host 'ghost': connection refused (tried ssh root@{h1}:1)"
            )
            for _host, cid, _state, _image in engines:
                assert f'data-container="{cid}"' in response.text
            assert 'id="term-modal"' in response.text  # the Shell buttons have their terminal
            assert '<script src="/static/containers.js" defer></script>' in response.text

            # The refresh: the same rows, a container later (Up on idle)
            assert (up := farm.cf("up", idle)).returncode == 0, up
            farm_of(client).invalidate()
            table = client.get("/containers/table")
            assert table.status_code == 200, table.text
            assert template_of(table) == "partials/farm_containers.html"
            again: ContainersPage = context_of(table)["page"]
            (started,) = on_engine(lab, "h2", idle)
            assert {(r.container.host, r.container.id) for r in again.rows} == {
                (h, cid) for h, cid, _s, _i in engines | {started}
            }
            assert "<html" not in table.text and 'data-unreachable="ghost"' in table.text
            assert secret not in table.text


def test_the_page_and_its_table_need_a_login(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"web": COMPOSE})
    with TestClient(web_app(config)) as anonymous:
        page = anonymous.get("/containers", headers=HTML, follow_redirects=False)
        assert (page.status_code, page.headers.get("location")) == (303, "/login")
        assert anonymous.get("/containers/table").status_code == 401


# --- the page in a real browser ---------------------------------------------------------

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
F = TypeVar("F", bound=Callable[..., None])


def in_browser(test: F) -> F:
    """A test of the page in Chromium against the lab (one Chromium at a time: the group
    the other browser tests run in)."""
    for mark in (
        pytest.mark.lab,
        pytest.mark.browser,
        pytest.mark.timeout(300),
        pytest.mark.xdist_group("web-browser"),
    ):
        test = mark(test)
    return test


# Every visible button, link and field, scrolled to, lies within the screen's width and is
# what a click at its middle reaches (nothing covers it): the ones that are not, by name.
UNREACHABLE = """() => [...document.querySelectorAll('button, a, input, select')]
  .filter(el => el.offsetParent !== null)
  .map(el => {
    el.scrollIntoView({block: 'center', inline: 'nearest'});
    const r = el.getBoundingClientRect();
    const line = el.getClientRects()[0] || r;  // a link that wraps: its first line
    const hit = document.elementFromPoint(line.left + line.width / 2, line.top + line.height / 2);
    const ok = r.width > 0 && r.left >= 0 && r.right <= window.innerWidth + 0.5
      && hit !== null && (hit === el || el.contains(hit));
    const name = el.textContent.trim() || el.title || el.id;
    return ok ? null : `${name} ${Math.round(r.left)}..${Math.round(r.right)}`;
  })
  .filter(Boolean)"""
ROWS = """els => els.map(r => ({id: r.dataset.container, host: r.dataset.host,
  stack: r.dataset.stack, service: r.dataset.service, state: r.dataset.state,
  image: r.dataset.image, uptime: Number(r.dataset.uptime), update: r.dataset.update || null,
  shown: !r.hidden}))"""


class Site:
    """The farm, the `cf web` serving it, and the lab."""

    def __init__(self, lab: Lab, farm: LabFarm, server: WebServer) -> None:
        self.lab, self.farm, self.server = lab, farm, server
        self.talk, self.pair = farm.name("talk"), farm.name("pair")
        self.halt, self.web = farm.name("halt"), farm.name("web")

    @property
    def stacks(self) -> tuple[str, ...]:
        return (self.talk, self.pair, self.halt, self.web)

    def engines(self) -> set[tuple[str, str, str, str]]:
        """(host, id, state, image) of every container of the site's stacks."""
        return {
            c for host in ("h1", "h2") for s in self.stacks for c in on_engine(self.lab, host, s)
        }


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Stacks on h1 and h2 (one stopped on both) served by `cf web`."""
    folder = tmp_path_factory.mktemp("containers-web")
    port = random.Random().randrange(30000, 39000)
    with open_farm(lab, folder, ("h1", "h2")) as farm:
        farm.stack("talk", "h1", TALKING.format(image=lab.image))
        farm.stack("pair", "h2", sleep_stack(lab.image, services=("app", "side")))
        farm.stack("halt", ["h1", "h2"])
        first = lab.push_image(f"{farm.prefix}-web:1", f"{farm.prefix}-v1")
        farm.stack("web", "h1", sleep_stack(first.ref, extra=f'    ports: ["{port}:8080"]\n'))
        names = [farm.name(n) for n in ("talk", "pair", "halt", "web")]
        assert (up := farm.cf("up", *names)).returncode == 0, up
        assert (stop := farm.cf("stop", farm.name("halt"))).returncode == 0, stop
        lab.push_image(first.ref, f"{farm.prefix}-v2")  # web's tag moves on in the registry
        assert (check := farm.cf("outdated", *names)).returncode == 0, check
        with WebServer(farm.config_path, farm.env(), folder / "cf-web.log") as server:
            yield Site(lab, farm, server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    yield from logged_in_tab(browser, site.server.url, DESKTOP)


@pytest.fixture
def phone(browser: Any, site: Site) -> Iterator[Any]:
    yield from logged_in_tab(browser, site.server.url, PHONE)


def errors_of(tab: Any) -> list[str]:
    """What ``tab`` logs as errors from here on (CSP refusals, script errors, failed loads)."""
    found: list[str] = []
    tab.on("console", lambda msg: found.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: found.append(f"uncaught: {exc}"))
    return found


def to_containers(page: Any, site: Site) -> None:
    """From the dashboard to the containers page by the top bar's link."""
    page.click("nav a[href='/containers']")
    page.wait_for_url(f"{site.server.url}/containers")
    page.wait_for_selector("#farm-containers table.farm tbody tr")


def rows(page: Any) -> list[dict[str, Any]]:
    """The table's rows, in the page's order: the hidden ones too (``shown``)."""
    found: list[dict[str, Any]] = page.eval_on_selector_all("#farm-containers tbody tr", ROWS)
    return found


def shown(page: Any) -> list[dict[str, Any]]:
    return [r for r in rows(page) if r["shown"]]


def fits(page: Any, width: int) -> None:
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide"
    assert page.evaluate(UNREACHABLE) == []


def refreshed(page: Any) -> None:
    """Have the table replaced by HTMX now (as every 15 s) and wait for the new one."""
    page.evaluate("() => document.querySelector('#farm-containers table').dataset.old = '1'")
    page.evaluate("() => document.body.dispatchEvent(new Event('cf:refresh'))")
    page.wait_for_selector("#farm-containers table.farm:not([data-old])", state="attached")


def wait_for_task(page: Any) -> str:
    """Wait until the output drawer's task ends; its status ("done" or "failed")."""
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector('#output-status').textContent)"
    )
    status: str = page.text_content("#output-status")
    return status


@in_browser
def test_filter_and_sort_the_farms_containers_and_keep_them_across_refreshes(
    page: Any, site: Site
) -> None:
    errors = errors_of(page)
    to_containers(page, site)

    assert {(r["host"], r["id"], r["state"], r["image"]) for r in rows(page)} == site.engines()
    assert {r["stack"] for r in rows(page)} == set(site.stacks)  # the farm's and no other
    assert len(rows(page)) == 6
    fits(page, DESKTOP["width"])
    assert page.text_content("#containers-count") == "6 shown"
    updates = {(r["stack"], r["host"], r["service"]): r["update"] for r in rows(page)}
    assert updates == {  # by the last `cf outdated`; a stopped container is not checked
        (site.talk, "h1", "app"): "up to date",
        (site.web, "h1", "app"): "update available",
        (site.halt, "h1", "app"): None,
        (site.halt, "h2", "app"): None,
        (site.pair, "h2", "app"): "up to date",
        (site.pair, "h2", "side"): "up to date",
    }
    assert page.locator("tr[data-update='update available'] .badge.warn").count() == 1

    page.fill("#containers-filter", site.talk)
    assert [(r["stack"], r["host"]) for r in shown(page)] == [(site.talk, "h1")]
    assert page.text_content("#containers-count") == "1 of 6 shown"
    page.fill("#containers-filter", "h2 SIDE")  # every word, in any column, any case
    assert [(r["stack"], r["service"]) for r in shown(page)] == [(site.pair, "side")]
    page.fill("#containers-filter", "")
    page.select_option("#containers-state", "stopped")
    assert {(r["stack"], r["host"], r["state"]) for r in shown(page)} == {
        (site.halt, "h1", "exited"),
        (site.halt, "h2", "exited"),
    }
    page.select_option("#containers-state", "running")
    assert len(shown(page)) == 4 and all(r["state"] == "running" for r in shown(page))
    page.select_option("#containers-state", "all")

    page.click("th button[data-sort='host']")
    hosts = [r["host"] for r in rows(page)]
    assert (
        hosts == sorted(hosts)
        and page.get_attribute("th:has(> [data-sort='host'])", "aria-sort") == "ascending"
    )
    page.click("th button[data-sort='host']")
    assert [r["host"] for r in rows(page)] == sorted(hosts, reverse=True)
    page.click("th button[data-sort='uptime']")
    uptimes = [r["uptime"] for r in rows(page)]
    assert uptimes == sorted(uptimes) and uptimes[:2] == [-1, -1]  # the stopped ones first
    page.click("th button[data-sort='image']")
    page.click("th button[data-sort='image']")
    page.click("th button[data-sort='stack']")
    page.click("th button[data-sort='stack']")
    order = [(r["stack"], r["host"], r["service"]) for r in rows(page)]
    assert [s for s, _h, _v in order] == sorted((s for s, _h, _v in order), reverse=True)

    page.fill("#containers-filter", "running")
    before = [(r["id"], r["shown"]) for r in rows(page)]
    assert sum(shown for _id, shown in before) == 4
    refreshed(page)
    assert [(r["id"], r["shown"]) for r in rows(page)] == before  # filter and sort kept
    assert page.get_attribute("th:has(> [data-sort='stack'])", "aria-sort") == "descending"

    page.reload()  # and for the tab's session
    page.wait_for_selector("#farm-containers tbody tr")
    assert page.input_value("#containers-filter") == "running"
    assert [(r["id"], r["shown"]) for r in rows(page)] == before

    page.fill("#containers-filter", "")
    page.click("th button[data-sort='host']")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "containers.png"))
    assert errors == []


@in_browser
def test_restart_on_a_row_restarts_that_container_and_no_other(page: Any, site: Site) -> None:
    errors = errors_of(page)
    farm = site.farm
    ids = farm.ids(site.pair)
    started = {
        s: farm.inspect("h2", ids[("h2", s)], "{{.State.StartedAt}}") for s in ("app", "side")
    }
    to_containers(page, site)
    asked: list[str] = []

    def yes(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", yes)
    row = page.locator(f"#farm-containers tr[data-container='{ids[('h2', 'app')]}']")
    row.locator("button[title^='Restart']").click()

    assert wait_for_task(page) == "done", page.inner_text("#output-lines")
    assert asked == [f"Restart {site.pair}-app-1 on h2?"]
    assert page.text_content("#output-title") == f"Restart {site.pair}-app-1"
    assert farm.ids(site.pair) == ids  # restarted in place
    assert farm.inspect("h2", ids[("h2", "app")], "{{.State.StartedAt}}") != started["app"]
    assert farm.inspect("h2", ids[("h2", "side")], "{{.State.StartedAt}}") == started["side"]
    assert errors == []


@in_browser
def test_logs_and_a_shell_from_a_row(page: Any, site: Site) -> None:
    errors = errors_of(page)
    to_containers(page, site)
    (cid,) = [r["id"] for r in rows(page) if r["stack"] == site.talk]
    row = page.locator(f"#farm-containers tr[data-container='{cid}']")

    row.locator("button[data-logs]").click()

    page.wait_for_selector("#output:not([hidden])")
    assert page.text_content("#output-title") == f"Logs: {site.talk} / {site.talk}-app-1@h1"
    page.wait_for_function(
        "() => document.querySelector('#output-lines').textContent.includes('hello-from-the-log')"
    )
    page.click("#output-close")

    row.locator("button[data-shell-container]").click()

    page.wait_for_selector("#term-modal:not([hidden])")
    assert page.text_content("#term-title") == f"Shell: {site.talk}-app-1 on h1"
    page.wait_for_function(
        "() => document.querySelector('#term-box .xterm-rows').textContent.trim().length > 0"
    )
    page.keyboard.type("hostname")
    page.keyboard.press("Enter")
    inside = site.farm.inspect("h1", cid, "{{.Config.Hostname}}")
    page.wait_for_function(
        "name => [...document.querySelectorAll('#term-box .xterm-rows > div')]"
        ".some(row => row.textContent.trim() === name)",
        arg=inside,
        timeout=30_000,
    )
    page.click("#term-close")
    assert errors == []


@in_browser
def test_at_a_phones_width_the_rows_are_cards_and_every_button_is_reachable(
    phone: Any, site: Site
) -> None:
    errors = errors_of(phone)
    to_containers(phone, site)
    fits(phone, PHONE["width"])
    header = phone.locator("th button[data-sort='uptime']").bounding_box()
    assert header is not None and header["x"] + header["width"] <= PHONE["width"]  # sortable
    cells = phone.locator(f"#farm-containers tr[data-stack='{site.web}'] td")  # has ports
    boxes = [cells.nth(i).bounding_box() for i in range(cells.count())]
    assert len(boxes) == 9 and all(b is not None for b in boxes)
    assert len({round(b["y"]) for b in boxes if b}) == len(boxes)  # one line per column
    assert phone.locator(f"#farm-containers tr[data-stack='{site.talk}'] td:empty").count() == 1
    assert phone.locator(f"#farm-containers tr[data-stack='{site.talk}'] td:empty").is_hidden()

    phone.fill("#containers-filter", site.web)
    assert [r["stack"] for r in shown(phone)] == [site.web]
    fits(phone, PHONE["width"])
    assert errors == []
