"""The web UI in a real browser: `cf web` as a user starts it, driven by headless Chromium.

A few journeys a person takes (log in, click Up, edit and save a compose
file, open a shell, use the command palette with Ctrl-K and Cmd-K), each
checked on the hosts' engines rather than on the page alone. The screenshots in docs/screenshots/
are taken here, at 1280x800.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from tests.lab import Lab
from tests.support.browser import WAIT_MS, chromium, logged_in_tab
from tests.support.farm import Farm as LabFarm
from tests.support.farm import open_farm
from tests.support.procs import pids_where
from tests.support.stacks import sleep_stack, slow_stack
from tests.support.waiting import eventually
from tests.support.web import PASSWORD, WebServer

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.lab,
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group("web-browser"),  # one `cf web` + Chromium, not one per worker
]

VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


TALKING = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "echo hello-from-the-log; exec sleep 3600"]
    init: true
    stop_grace_period: 1s
"""


def published(image: str, port: int) -> str:
    return sleep_stack(image, extra=f'    ports: ["{port}:8080"]\n')


class Site:
    """The farm, the `cf web` serving it, and the lab."""

    def __init__(self, lab: Lab, farm: LabFarm, server: WebServer, ports: list[int]) -> None:
        self.lab = lab
        self.farm = farm
        self.server = server
        self.ports = ports
        self.stacks = {
            "pair": farm.name("pair"),
            "solo": farm.name("solo"),
            "up": farm.name("up"),
            "edit": farm.name("edit"),
            "pal": farm.name("pal"),
            "talk": farm.name("talk"),
            "quiet": farm.name("quiet"),
            "reload": farm.name("reload"),
            "box": farm.name("box"),
            "gone": farm.name("gone"),
            "keys": farm.name("keys"),
            "tail": farm.name("tail"),
        }


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A farm over h1..h3 (every stack configured up front) served by `cf web`."""
    folder = tmp_path_factory.mktemp("webfarm")
    base = random.Random().randrange(20000, 29000, 4)  # ports base..base+3
    ports = [base, base + 1, base + 2]
    with open_farm(lab, folder, ("h1", "h2", "h3")) as farm:  # its folders go, backups too
        farm.stack("pair", ["h2", "h3"])
        farm.stack("solo", "h3")
        farm.stack("up", "h1", slow_stack(lab.image, ports[0]))
        farm.stack("edit", "h1", published(lab.image, ports[1]))
        farm.stack("pal", "h3")
        farm.stack("talk", "h2", TALKING.format(image=lab.image))
        farm.stack("quiet", "h1")
        farm.stack("reload", "h3", slow_stack(lab.image, ports[0] + 3))
        farm.stack("box", "h2", sleep_stack(lab.image, services=("app", "side")))
        farm.stack("gone", "h2")
        farm.stack("keys", "h3")
        farm.stack("tail", "h1", sleep_stack(lab.image, services=("app", "side")))
        names = ("pair", "pal", "talk", "quiet", "box", "gone", "tail")
        started = farm.cf("up", *(farm.name(n) for n in names))
        assert started.returncode == 0, started
        with WebServer(farm.config_path, farm.env(), folder / "cf-web.log") as server:
            yield Site(lab, farm, server, ports)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def log_in(page: Any, site: Site, screenshot: str | None = None) -> None:
    """Through the form, as a person does."""
    page.goto(f"{site.server.url}/")
    assert page.url == f"{site.server.url}/login"
    page.fill("#password", PASSWORD)
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.server.url}/")


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A logged-in tab of its own (fresh cookies), 1280x800."""
    yield from logged_in_tab(browser, site.server.url, VIEWPORT)


@pytest.fixture
def errors(page: Any) -> list[str]:
    """What the page logs as errors from here on (CSP violations, script errors, failed loads)."""
    found: list[str] = []
    page.on("console", lambda msg: found.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: found.append(f"uncaught: {exc}"))
    return found


def wait_for_task(page: Any) -> str:
    """Wait until the output drawer's task ends; its status ("done" or "failed")."""
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector('#output-status').textContent)",
        timeout=WAIT_MS,
    )
    status: str = page.text_content("#output-status")
    return status


def output_lines(page: Any) -> list[str]:
    lines: list[str] = page.eval_on_selector_all(
        "#output-lines span", "els => els.map(e => e.textContent.trim())"
    )
    return lines


def test_log_in_and_see_the_stacks_under_their_hosts(browser: Any, site: Site) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{site.server.url}/login")
        page.fill("#password", "not the password")
        page.click("button[type=submit]")
        assert page.text_content("[role=alert]") == "Wrong password."

        log_in(page, site, screenshot="login.png")

        cards = page.locator("#stacks section.card")
        found: dict[str, dict[str, str]] = {}
        for n in range(cards.count()):
            card = cards.nth(n)
            host = card.locator("h2").inner_text().strip()
            rows = card.locator("tr[data-stack]")
            found[host] = {
                rows.nth(i).get_attribute("data-stack"): rows.nth(i).get_attribute("data-status")
                for i in range(rows.count())
            }
        s = site.stacks
        engines = site.farm.on_engines()

        def status(stack: str, host: str) -> str:
            return "running" if engines.get(stack, {}).get(host) == "running" else "stopped"

        assert found == {
            "h1": {
                s["up"]: status(s["up"], "h1"),
                s["edit"]: status(s["edit"], "h1"),
                s["quiet"]: "running",
                s["tail"]: "running",
            },
            "h2": {
                s["pair"]: "running",
                s["talk"]: "running",
                s["box"]: status(s["box"], "h2"),
                s["gone"]: status(s["gone"], "h2"),
            },
            "h3": {
                s["pair"]: "running",
                s["solo"]: "stopped",
                s["pal"]: status(s["pal"], "h3"),
                s["reload"]: status(s["reload"], "h3"),
                s["keys"]: "stopped",
            },
        }
        assert engines[s["pair"]] == {"h2": "running", "h3": "running"}
        hosts = page.locator("#hosts li.host.ok")
        assert sorted(hosts.nth(i).get_attribute("data-host") for i in range(hosts.count())) == [
            "h1",
            "h2",
            "h3",
        ]
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"))
    finally:
        context.close()


def test_up_from_the_dashboard_streams_output_until_done(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["up"]
    assert site.farm.where(stack) == set()
    row = page.locator(f"#stacks section.card:has(h2:text-is('h1')) tr[data-stack='{stack}']")
    assert row.get_attribute("data-status") == "stopped"

    row.locator(f"button[title='Up {stack}']").click()

    page.wait_for_selector("#output:not([hidden])")
    assert page.text_content("#output-title") == f"Up {stack}"
    # Lines arrive while the task is still running (the health check holds `up -d` back).
    page.wait_for_function(
        "() => document.querySelectorAll('#output-lines span').length > 0"
        " && document.querySelector('#output-status').textContent === 'running'",
        timeout=WAIT_MS,
    )
    assert wait_for_task(page) == "done", output_lines(page)
    lines = output_lines(page)
    assert any(line.startswith(f"[{stack}@h1] ") for line in lines), lines
    assert lines[-1] == "up: 1 stacks ok"
    assert site.farm.where(stack) == {"h1"}
    port = site.lab.docker("h1", "port", f"{stack}-app-1", "8080/tcp").stdout
    assert f":{site.ports[0]}" in port, port
    # The stacks panel refreshes itself after the task.
    h1_card = "#stacks section.card:has(h2:text-is('h1'))"
    page.wait_for_selector(f"{h1_card} tr[data-stack='{stack}'][data-status='running']")
    assert errors == []


def test_a_reloaded_page_reconnects_to_the_running_task(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["reload"]
    page.click(f"#stacks tr[data-stack='{stack}'] button[title='Up {stack}']")
    page.wait_for_selector("#output:not([hidden])")
    assert page.text_content("#output-status") == "running"

    page.reload()

    page.wait_for_selector("#output:not([hidden])")
    assert page.text_content("#output-title") == f"Up {stack}"
    assert wait_for_task(page) == "done", output_lines(page)
    lines = output_lines(page)
    assert any(line.startswith(f"[{stack}@h3] ") for line in lines), lines
    assert site.farm.where(stack) == {"h3"}
    assert errors == []


def test_edit_the_published_port_save_and_up(page: Any, site: Site, errors: list[str]) -> None:
    stack = site.stacks["edit"]
    old, new = site.ports[1], site.ports[2]
    compose = site.lab.compose_dir / stack / "compose.yaml"
    page.click(f"#stacks a[href='/stack/{stack}']")
    page.wait_for_url(f"{site.server.url}/stack/{stack}")
    page.wait_for_function(
        f"() => window.cfEditor && window.cfEditor.getValue().includes('{old}:8080')"
    )
    assert page.text_content("#editor-status") == str(compose)

    text = page.evaluate("() => window.cfEditor.getValue()")
    page.evaluate("t => window.cfEditor.setValue(t)", "services:\n  app: [\n")
    page.click("#editor-save")
    page.wait_for_function(
        "() => document.querySelector('#editor-status').textContent.startsWith('not saved')"
    )
    refused = page.text_content("#editor-status")
    assert f"{compose}:3: YAML syntax error" in refused, refused
    assert page.get_attribute("#editor-status", "class") == "error"
    assert compose.read_text() == text

    page.evaluate("t => window.cfEditor.setValue(t)", text.replace(f"{old}:8080", f"{new}:8080"))
    page.click("#editor-save")
    page.wait_for_function(
        "() => document.querySelector('#editor-status').textContent.startsWith('saved')"
    )
    assert f'"{new}:8080"' in compose.read_text()
    assert site.farm.where(stack) == set()  # saving alone starts nothing
    page.screenshot(path=str(SCREENSHOTS / "stack.png"))

    page.click("#action-up")

    assert wait_for_task(page) == "done", output_lines(page)
    port = site.lab.docker("h1", "port", f"{stack}-app-1", "8080/tcp")
    assert port.returncode == 0, port.stderr
    assert f":{new}" in port.stdout and f":{old}" not in port.stdout, port.stdout
    page.wait_for_selector("#containers tr[data-host='h1'][data-service='app']")


def test_console_runs_a_shell_on_the_chosen_host(page: Any, site: Site, errors: list[str]) -> None:
    page.click("a[href='/console']")
    page.wait_for_url(f"{site.server.url}/console")
    page.select_option("#console-host", "h2")
    page.click("#console-connect")
    page.wait_for_selector("#console-term .xterm-rows")
    page.wait_for_function(
        "() => document.querySelector('#console-term .xterm-rows').textContent.trim().length > 0"
    )  # the prompt

    page.locator("#console-term").click()
    page.keyboard.type("hostname")
    page.keyboard.press("Enter")

    page.wait_for_function(
        "() => [...document.querySelectorAll('#console-term .xterm-rows > div')]"
        ".some(row => row.textContent.trim() === 'h2')",
        timeout=30_000,
    )
    rows = page.eval_on_selector_all(
        "#console-term .xterm-rows > div", "els => els.map(e => e.textContent.trim())"
    )
    assert "h1" not in rows and "h3" not in rows, rows
    page.screenshot(path=str(SCREENSHOTS / "console.png"))
    assert errors == []


def test_command_palette_runs_down_on_a_stack(page: Any, site: Site, errors: list[str]) -> None:
    stack = site.stacks["pal"]
    assert site.farm.where(stack) == {"h3"}

    page.keyboard.press("Control+k")
    page.wait_for_selector("#palette:not([hidden])")
    page.keyboard.type(f"down {stack}")
    assert page.locator("#palette-list li").all_inner_texts() == [f"Down {stack}"]
    assert page.get_attribute("#palette-list li", "class") == "active"
    page.screenshot(path=str(SCREENSHOTS / "palette.png"))
    page.keyboard.press("Enter")

    page.wait_for_selector("#palette", state="hidden")
    assert wait_for_task(page) == "done", (output_lines(page), errors)
    assert page.text_content("#output-title") == f"Down {stack}", (output_lines(page), errors)
    assert site.farm.where(stack, running=False) == set(), output_lines(page)
    assert errors == []


def palette_open(page: Any, key: str) -> None:
    """Open the palette with ``key`` and wait for the containers it asks the server for."""
    page.keyboard.press(key)
    page.wait_for_selector("#palette:not([hidden])[data-containers='loaded']")


def palette_choose(page: Any, key: str, query: str, expected: list[str]) -> None:
    """Open the palette with ``key``, type ``query``, check what is listed, run the first."""
    palette_open(page, key)
    page.keyboard.type(query)
    assert page.locator("#palette-list li").all_inner_texts() == expected
    page.keyboard.press("Enter")
    page.wait_for_selector("#palette", state="hidden")


def test_command_palette_with_cmd_k_follows_logs_and_opens_a_shell_on_a_host(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["talk"]
    palette_open(page, "Meta+k")
    for query, expected in {
        "shell on": ["Shell on h1", "Shell on h2", "Shell on h3"],
        "go to": ["Go to dashboard", "Go to console", "Go to containers"],
        f" {stack}": [
            f"Open stack {stack}",
            *(f"{verb} {stack}" for verb in ("Up", "Down", "Stop", "Restart", "Pull", "Update")),
            f"Logs of {stack}",
            *(f"{verb} {stack}/app on h2" for verb in ("Logs of", "Restart", "Shell in")),
        ],
    }.items():
        page.fill("#palette-input", query)
        assert page.locator("#palette-list li").all_inner_texts() == expected, query
    page.keyboard.press("Escape")
    page.wait_for_selector("#palette", state="hidden")

    palette_choose(
        page, "Meta+k", f"logs of {stack}", [f"Logs of {stack}", f"Logs of {stack}/app on h2"]
    )

    assert page.text_content("#output-title") == f"Logs: {stack}"
    page.wait_for_function(
        "() => document.querySelector('#output-lines').textContent.includes('hello-from-the-log')"
    )
    assert page.text_content("#output-status") == "following"
    page.click("#output-close")

    palette_choose(page, "Meta+k", "shell on h3", ["Shell on h3"])

    page.wait_for_url(f"{site.server.url}/console?host=h3")
    assert page.input_value("#console-host") == "h3"
    page.wait_for_function(
        "() => document.querySelector('#console-term .xterm-rows').textContent.trim().length > 0"
    )  # connected at once: the prompt
    page.keyboard.type("hostname")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#console-term .xterm-rows > div')]"
        ".some(row => row.textContent.trim() === 'h3')",
        timeout=30_000,
    )
    assert errors == []


def test_logs_and_a_shell_in_a_container_from_the_stack_page(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["talk"]
    page.goto(f"{site.server.url}/stack/{stack}")
    container = f"{stack}-app-1"
    page.wait_for_selector("#containers tr[data-host='h2'][data-state='running']")

    page.click("#action-logs")

    page.wait_for_selector("#output:not([hidden])")
    assert page.text_content("#output-title") == f"Logs: {stack}"
    page.wait_for_function(
        "() => document.querySelector('#output-lines').textContent.includes('hello-from-the-log')"
    )
    assert page.text_content("#output-status") == "following"
    page.click("#output-close")

    row = page.locator("#containers tr[data-host='h2'][data-service='app']")
    container_id = site.lab.docker("h2", "inspect", "-f", "{{.Id}}", container).stdout.strip()
    assert row.get_attribute("data-container") == container_id  # named by id, not by name
    row.locator("button[data-shell-container]").click()

    page.wait_for_selector("#term-modal:not([hidden])")
    assert page.text_content("#term-title") == f"Shell: {container} on h2"
    page.wait_for_function(
        "() => document.querySelector('#term-box .xterm-rows').textContent.trim().length > 0"
    )
    page.keyboard.type("cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname")
    page.keyboard.press("Enter")
    inside = site.lab.docker("h2", "inspect", "-f", "{{.Config.Hostname}}", container).stdout
    page.wait_for_function(
        "name => [...document.querySelectorAll('#term-box .xterm-rows > div')]"
        ".some(row => row.textContent.trim() === name)",
        arg=inside.strip(),
        timeout=30_000,
    )
    page.click("#term-close")
    page.wait_for_selector("#term-modal", state="hidden")
    assert errors == []


def test_command_palette_restarts_a_container_opens_its_shell_and_stops_its_stack(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["box"]
    farm = site.farm
    ids = farm.ids(stack)
    started = {
        s: farm.inspect("h2", ids[("h2", s)], "{{.State.StartedAt}}") for s in ("app", "side")
    }

    palette_choose(
        page,
        "Control+k",
        f"restart {stack}/",
        [f"Restart {stack}/app on h2", f"Restart {stack}/side on h2"],
    )

    assert wait_for_task(page) == "done", output_lines(page)
    assert page.text_content("#output-title") == f"Restart {stack}-app-1"
    assert farm.ids(stack) == ids  # restarted in place, by id
    assert farm.inspect("h2", ids[("h2", "app")], "{{.State.StartedAt}}") != started["app"]
    assert farm.inspect("h2", ids[("h2", "side")], "{{.State.StartedAt}}") == started["side"]
    page.click("#output-close")

    # From the dashboard, the shell opens on the stack's page, in that container.
    palette_choose(page, "Control+k", f"shell in {stack}/side", [f"Shell in {stack}/side on h2"])

    page.wait_for_url(f"{site.server.url}/stack/{stack}?shell={ids[('h2', 'side')]}&host=h2")
    page.wait_for_selector("#term-modal:not([hidden])")
    assert page.text_content("#term-title") == f"Shell: {stack}-side-1 on h2"
    page.wait_for_function(
        "() => document.querySelector('#term-box .xterm-rows').textContent.trim().length > 0"
    )
    page.keyboard.type("hostname")
    page.keyboard.press("Enter")
    inside = farm.inspect("h2", ids[("h2", "side")], "{{.Config.Hostname}}")
    page.wait_for_function(
        "name => [...document.querySelectorAll('#term-box .xterm-rows > div')]"
        ".some(row => row.textContent.trim() === name)",
        arg=inside,
        timeout=30_000,
    )
    page.click("#term-close")

    palette_choose(page, "Control+k", f"logs of {stack}/app", [f"Logs of {stack}/app on h2"])

    assert page.text_content("#output-title") == f"Logs: {stack} / {stack}-app-1@h2"
    assert page.text_content("#output-status") == "following"
    page.click("#output-close")

    asked: list[str] = []

    def yes(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", yes)  # Stop asks first
    palette_choose(page, "Control+k", f"stop {stack}", [f"Stop {stack}"])

    assert wait_for_task(page) == "done", output_lines(page)
    assert asked == [f"Stop the containers of {stack}?"]
    assert farm.ids(stack) == ids  # stopped, not removed
    assert farm.on_engines()[stack] == {"h2": "exited"}
    assert farm.state()[stack] == ("h2",)
    assert errors == []


def log_followers(folder: Path) -> list[int]:
    """Pids of `docker compose logs --follow` running in ``folder`` on any lab host."""
    return pids_where(
        lambda argv, cwd: b"logs" in argv and b"--follow" in argv and cwd == str(folder)
    )


def test_closing_the_logs_drawer_stops_following_on_the_host(page: Any, site: Site) -> None:
    stack = site.stacks["quiet"]
    folder = site.lab.compose_dir / stack
    page.goto(f"{site.server.url}/stack/{stack}")
    page.click("#action-logs")
    assert eventually(lambda: log_followers(folder)), "logs never started on h1"

    page.click("#output-close")

    try:
        assert page.locator("#output").is_hidden()
        # TERM at once, TERM again at 2 s, KILL at 5 s (ssh/pool.py HANG_UP); left
        # running, it would follow the logs for good
        assert eventually(lambda: not log_followers(folder)), log_followers(folder)
    finally:
        # A log line makes the server notice the closed socket; the next one makes the
        # orphaned remote `logs --follow` die of SIGPIPE.
        poke = ["exec", f"{stack}-app-1", "sh", "-c", "echo poke > /proc/1/fd/1"]
        for _ in range(5):
            if not log_followers(folder):
                break
            site.lab.docker("h1", *poke)
            eventually(lambda: not log_followers(folder), 1)


def test_cf_web_stops_on_sigterm_after_a_logs_page_was_closed(site: Site, tmp_path: Path) -> None:
    stack = site.stacks["quiet"]
    folder = site.lab.compose_dir / stack
    server = WebServer(site.farm.config_path, site.farm.env(), tmp_path / "cf-web.log")
    with server:
        headers = {"Cookie": server.login_cookie(), "Origin": server.url}
        target = f"ws://127.0.0.1:{server.port}/ws/logs/{stack}"
        before = set(log_followers(folder))
        with ws_connect(target, additional_headers=headers):
            # the follow runs on h1
            assert eventually(lambda: set(log_followers(folder)) - before), "no follow on h1"

        # No bound of cf's own: a server that hangs on SIGTERM never stops.
        assert server.stop(grace=30), "cf web still running 30 s after SIGTERM"


def test_down_asks_first_and_a_no_leaves_the_stack_running(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["gone"]
    asked: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog: Any) -> None:
        asked.append(dialog.message)
        if answer["accept"]:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", on_dialog)
    down = f"#stacks tr[data-stack='{stack}'] button[title='Down {stack}']"
    page.click(down)
    assert asked == [f"Stop and remove the containers of {stack}?"]
    assert page.locator("#output").is_hidden()  # no task was started
    assert site.farm.where(stack) == {"h2"}

    answer["accept"] = True
    page.click(down)
    assert wait_for_task(page) == "done", output_lines(page)
    assert site.farm.where(stack) == set()
    assert len(asked) == 2 and errors == []


def test_apply_asks_with_the_plan_in_the_question(page: Any, site: Site) -> None:
    asked: list[str] = []

    def on_dialog(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    plan = page.inner_text("#plan").strip()
    page.click("#action-apply")
    assert len(asked) == 1 and asked[0].startswith("Apply this plan to the hosts?"), asked
    assert plan and plan in asked[0], (plan, asked)
    assert page.locator("#output").is_hidden()


PHONE = {"width": 390, "height": 844}
# Every button and link of the page lies within the screen's width (0..390).
OFF_SCREEN = """() => [...document.querySelectorAll('button, a')]
  .filter(el => el.offsetParent !== null)
  .map(el => [el.textContent.trim() || el.title, el.getBoundingClientRect()])
  .filter(([, r]) => r.width > 0 && (r.left < 0 || r.right > window.innerWidth + 0.5))
  .map(([name, r]) => `${name} ${Math.round(r.left)}..${Math.round(r.right)}`)"""


@pytest.fixture
def phone(browser: Any, site: Site) -> Iterator[Any]:
    """A logged-in tab at a phone's width (390x844)."""
    yield from logged_in_tab(browser, site.server.url, PHONE)


def _fits(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"
    assert page.evaluate(OFF_SCREEN) == []


def test_at_a_phones_width_nothing_is_off_screen(phone: Any, site: Site) -> None:
    _fits(phone)  # the dashboard
    stack = site.stacks["box"]  # two containers, each with its buttons
    phone.goto(f"{site.server.url}/stack/{stack}")
    phone.wait_for_selector("#containers tr[data-service='side']")
    _fits(phone)
    phone.screenshot(path=str(SCREENSHOTS / "stack-phone.png"), full_page=True)

    phone.click("#action-logs")
    phone.wait_for_selector("#output:not([hidden])")
    box = phone.locator("#output").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    phone.click("#output-close")

    phone.click("#palette-open")
    palette = phone.locator("#palette .modal-box").bounding_box()
    assert palette is not None and palette["x"] >= 0
    assert palette["x"] + palette["width"] <= PHONE["width"]


# ---------------------------------------------------------------- the editor's keys


def editor_ready(page: Any, site: Site, stack: str) -> Path:
    """Open the stack's page and wait for its compose file in the editor; its path."""
    compose = site.lab.compose_dir / stack / "compose.yaml"
    page.goto(f"{site.server.url}/stack/{stack}")
    page.wait_for_function(
        "t => window.cfEditor && window.cfEditor.getValue() === t", arg=compose.read_text()
    )
    return compose


def saved_status(page: Any) -> str:
    page.wait_for_function(
        "() => /^(saved|not saved)/.test(document.querySelector('#editor-status').textContent)"
    )
    status: str = page.text_content("#editor-status")
    return status


def test_ctrl_s_saves_a_refused_save_marks_its_line_and_leaving_unsaved_asks(
    page: Any, site: Site, errors: list[str]
) -> None:
    compose = editor_ready(page, site, site.stacks["keys"])
    original = compose.read_text()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", on_dialog)

    # a typo Compose refuses (an unknown key), typed as a person types it
    page.click(".CodeMirror-code")
    page.keyboard.press("Control+End")
    page.keyboard.type("    portz: ['8080:80']\n")
    assert page.get_attribute("#editor", "data-dirty") == "1"
    page.keyboard.press("Control+s")
    status = saved_status(page)
    assert status.startswith("not saved") and "portz" in status, status
    bad_line = original.count("\n") + 1
    assert f":{bad_line}:" in status, status
    assert page.get_attribute("#editor", "data-error-line") == str(bad_line)
    marked = page.eval_on_selector_all(
        ".CodeMirror-code .cm-error-line pre", "els => els.map(e => e.textContent)"
    )
    assert marked == ["    portz: ['8080:80']"], marked
    assert compose.read_text() == original

    # leaving with unsaved edits asks first; "stay" keeps the page and the edits
    page.click("nav a[href='/']")
    assert dialogs == ["beforeunload"]
    assert page.url == f"{site.server.url}/stack/{site.stacks['keys']}"

    fixed = original + "# saved with the Mac's key\n"
    page.evaluate("t => window.cfEditor.setValue(t)", fixed)
    page.click("h1")
    page.keyboard.press("Meta+s")  # the Mac's key, and from outside the editor's text
    assert saved_status(page).startswith("saved")
    assert compose.read_text() == fixed
    assert page.locator(".CodeMirror-code .cm-error-line").count() == 0
    assert page.get_attribute("#editor", "data-dirty") == ""
    page.click("nav a[href='/']")  # nothing unsaved: no question
    page.wait_for_url(f"{site.server.url}/")
    assert dialogs == ["beforeunload"]
    assert [e for e in errors if "status of 400" not in e] == []  # the refused save's 400


def test_history_shows_the_diff_to_a_kept_version_and_restores_it_into_the_editor(
    page: Any, site: Site, errors: list[str]
) -> None:
    compose = editor_ready(page, site, site.stacks["keys"])
    before = compose.read_text()
    changed = before + "# a change to undo\n"
    page.evaluate("t => window.cfEditor.setValue(t)", changed)
    page.click("#editor-save")
    assert saved_status(page).startswith("saved")

    page.click("#editor-history")
    page.wait_for_selector("#history-list li.active")
    page.wait_for_function(
        "() => document.querySelector('#history-diff').textContent.includes('a change to undo')"
    )
    added = page.eval_on_selector_all(
        "#history-diff .diff-add", "els => els.map(e => e.textContent.trim())"
    )
    assert added == ["+++ compose.yaml (now)", "+# a change to undo"], added
    page.screenshot(path=str(SCREENSHOTS / "history.png"))
    page.click("#history-restore")

    page.wait_for_selector("#history-modal", state="hidden")
    assert page.evaluate("() => window.cfEditor.getValue()") == before
    assert compose.read_text() == changed  # restored into the editor only
    assert page.get_attribute("#editor", "data-dirty") == "1"
    page.keyboard.press("Control+s")
    assert saved_status(page).startswith("saved")
    assert compose.read_text() == before
    assert errors == []


# ---------------------------------------------------------------- theme


EDITOR_BACKGROUND = "() => getComputedStyle(document.querySelector('.CodeMirror')).backgroundColor"


def test_the_theme_toggle_goes_system_light_dark_and_the_editor_and_terminal_follow(
    browser: Any, site: Site
) -> None:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    try:
        log_in(tab, site)
        tab.goto(f"{site.server.url}/console")
        tab.wait_for_function("() => window.cfEditor && window.cfEditor.getValue().length > 0")
        tab.click("#console-connect")
        tab.wait_for_function("() => window.cfTerminals && window.cfTerminals.size === 1")
        terminal = "() => [...window.cfTerminals][0].options.theme.background"

        seen = {}
        for choice in ("system", "light", "dark"):
            assert tab.get_attribute("#theme-toggle", "data-choice") == choice
            seen[choice] = (
                tab.get_attribute("html", "data-theme"),
                tab.evaluate(EDITOR_BACKGROUND),
                tab.evaluate(terminal),
            )
            tab.click("#theme-toggle")

        assert seen["system"][0] is None and seen["system"][1:] == seen["light"][1:]
        assert seen["light"] == ("light", "rgb(255, 255, 255)", "#ffffff")
        assert seen["dark"] == ("dark", "rgb(26, 32, 41)", "#0f1623")
        tab.click("#theme-toggle")  # back at dark, kept across pages
        tab.click("#theme-toggle")
        tab.goto(f"{site.server.url}/stack/{site.stacks['keys']}")
        tab.wait_for_function("() => window.cfEditor")
        assert tab.get_attribute("html", "data-theme") == "dark"
        assert tab.evaluate(EDITOR_BACKGROUND) == "rgb(26, 32, 41)"
        tab.screenshot(path=str(SCREENSHOTS / "stack-dark.png"))
    finally:
        context.close()


# ---------------------------------------------------------------- the logs panel


def say(site: Site, stack: str, service: str, text: str) -> None:
    """A line on the container's own output (what `docker logs` shows), written on h1."""
    line = ["exec", f"{stack}-{service}-1", "sh", "-c", f"echo {text} > /proc/1/fd/1"]
    done = site.lab.docker("h1", *line)
    assert done.returncode == 0, done.stderr


def shown(page: Any, text: str) -> None:
    page.wait_for_function(
        "t => [...document.querySelectorAll('#output-lines span')]"
        ".some(s => !s.hidden && s.textContent.includes(t))",
        arg=text,
    )


def visible_lines(page: Any) -> list[str]:
    lines: list[str] = page.eval_on_selector_all(
        "#output-lines span", "els => els.filter(e => !e.hidden).map(e => e.textContent.trim())"
    )
    return lines


def test_logs_panel_search_pause_service_times_and_a_page_of_its_own(
    page: Any, site: Site, errors: list[str]
) -> None:
    stack = site.stacks["tail"]
    page.goto(f"{site.server.url}/stack/{stack}")
    page.click("#action-logs")
    say(site, stack, "app", "first-from-app")
    say(site, stack, "side", "first-from-side")
    shown(page, "first-from-side")
    shown(page, "first-from-app")

    page.fill("#output-search", "from-side")
    assert [line for line in visible_lines(page) if "from-" in line] == [
        line for line in visible_lines(page) if "from-side" in line
    ]
    assert any("first-from-side" in line for line in visible_lines(page))
    assert page.text_content("#output-matches").endswith(("match", "matches"))
    page.fill("#output-search", "")

    page.click("#output-pause")
    say(site, stack, "app", "while-paused")
    page.wait_for_function(
        "() => document.querySelector('#output-status').textContent === 'paused, 1 new'"
    )
    assert not any("while-paused" in line for line in visible_lines(page))
    page.click("#output-pause")
    shown(page, "while-paused")

    assert page.eval_on_selector_all("#output-service option", "els => els.map(e => e.value)") == [
        "",
        "app",
        "side",
    ]
    page.select_option("#output-service", "side")
    say(site, stack, "side", "second-from-side")
    shown(page, "second-from-side")
    followed = visible_lines(page)
    assert not any("from-app" in line or "while-paused" in line for line in followed), followed
    assert page.text_content("#output-title") == f"Logs: {stack} / side"

    page.check("#output-stamps")
    say(site, stack, "side", "third-from-side")
    shown(page, "third-from-side")
    third = next(line for line in visible_lines(page) if "third-from-side" in line)
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", third), third

    href = page.get_attribute("#output-page", "href")
    assert href == f"/logs/{stack}?service=side", href
    page.goto(f"{site.server.url}{href}")
    page.wait_for_selector("#output.full:not([hidden])")
    shown(page, "third-from-side")
    assert not any("from-app" in line for line in visible_lines(page))
    assert page.text_content("#output-status") == "following"
    assert errors == []


def test_the_logs_panel_is_resized_by_its_edge_and_keeps_its_height(page: Any, site: Site) -> None:
    stack = site.stacks["tail"]
    page.goto(f"{site.server.url}/stack/{stack}")
    page.click("#action-logs")
    page.wait_for_selector("#output:not([hidden])")
    before = page.locator("#output").bounding_box()
    grip = page.locator("#output-grip").bounding_box()
    assert before is not None and grip is not None
    x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2

    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 200, steps=5)
    page.mouse.up()

    after = page.locator("#output").bounding_box()
    assert after is not None and after["height"] > before["height"] + 150, (before, after)
    room = page.evaluate("() => parseFloat(document.body.style.paddingBottom)")
    assert abs(room - after["height"]) < 2  # the page keeps room: nothing hidden under it
    page.reload()
    page.click("#action-logs")
    page.wait_for_selector("#output:not([hidden])")
    again = page.locator("#output").bounding_box()
    assert again is not None and abs(again["height"] - after["height"]) < 2


# ---------------------------------------------------------------- every page, both widths


def fits(page: Any, width: int) -> None:
    """Nothing wider than the screen, and every visible button and link on it."""
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide"
    assert page.evaluate(OFF_SCREEN) == [], page.url


@pytest.mark.parametrize("viewport", [VIEWPORT, PHONE], ids=["1280x800", "390x844"])
def test_every_page_and_panel_fits_the_screen(
    browser: Any, site: Site, viewport: dict[str, int]
) -> None:
    width = viewport["width"]
    for tab in logged_in_tab(browser, site.server.url, viewport):
        stack = site.stacks["tail"]
        pages = {
            "/": "#stacks tr[data-stack]",
            f"/stack/{stack}": "#containers tr[data-service='side']",
            "/console": "#console-term",
            "/containers": "#farm-containers tr[data-container]",
            f"/logs/{stack}": "#output.full:not([hidden])",
        }
        for path, ready in pages.items():
            tab.goto(f"{site.server.url}{path}")
            tab.wait_for_selector(ready)
            fits(tab, width)
        tab.goto(f"{site.server.url}/stack/{stack}")
        panels = {
            "#action-logs": "#output:not([hidden])",
            "#editor-history": "#history-modal:not([hidden])",
            "#palette-open": "#palette:not([hidden])",
        }
        for button, opened in panels.items():
            tab.click(button)
            tab.wait_for_selector(opened)
            fits(tab, width)
            box = tab.locator(opened).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            tab.keyboard.press("Escape")
            tab.evaluate(
                "() => { for (const id of ['history-modal', 'palette']) "
                "document.getElementById(id).hidden = true; }"
            )
