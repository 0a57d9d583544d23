"""A slow file holds up only its own request: the web UI reads and parses YAML off its event loop.

The slow part is a named pipe (FIFO) where the server expects a file: its
read blocks until the test writes the text, so "the parse is under way" and
"the parse is let go" are events, not guesses about timing. While one request
waits there, another request is answered; only then is the pipe fed. Parsed on
the event loop, the first request would hold the loop in that read and the
second would wait: the pipe is fed by a watchdog after ``WATCHDOG`` seconds
so such a failure ends, and the order of events shows it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from compose_farm.executor import Executor, Result, Runnable
from compose_farm.executor.events import Sink, discard
from compose_farm.web.auth import CSRF_HEADER
from compose_farm.web.views import StackPage
from tests.support.web import context_of, csrf_of, web_client, write_config

WATCHDOG = 10.0  # seconds: only ever reached when the server blocks its event loop
COMPOSE = "services:\n  app:\n    image: ${IMG}\n    command: [sleep, '3600']\n"
# A big compose file: every service its own mapping, as a real one would be.
BIG = "services:\n" + "".join(
    f"  s{n}:\n    image: ${{IMG}}\n    command: [sleep, '3600']\n    labels: {{n: '{n}'}}\n"
    for n in range(300)
)


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The editors' backups go below ``$XDG_STATE_HOME``: here, not in the real home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


class Events:
    """What happened, in order, from any thread."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, what: str) -> None:
        with self._lock:
            self.seen.append(what)


@contextlib.contextmanager
def pipe(
    path: Path, text: str, events: Events
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """``path`` as a FIFO that gives ``text`` once released: (server opened it, release)."""
    os.mkfifo(path)
    opened, release = threading.Event(), threading.Event()

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), path.open("w") as fifo:
            opened.set()  # the server opened it: its read (and parse) is under way
            events("released" if release.wait(WATCHDOG) else "released by the watchdog")
            fifo.write(text)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield opened, release
    finally:
        release.set()
        if not opened.is_set():  # never opened by the server: let the feeder's open return
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        feeder.join(WATCHDOG)


def in_background(
    events: Events, name: str, call: Callable[[], httpx.Response]
) -> threading.Thread:
    """``call`` in a thread of its own; its status is recorded as ``name: STATUS``."""
    thread = threading.Thread(target=lambda: events(f"{name}: {call().status_code}"), daemon=True)
    thread.start()
    return thread


class Idle(Executor):
    """Every host answers and runs nothing (no SSH: the pages' facts are not the point)."""

    async def run(
        self,
        host: str,
        command: Runnable,
        *,
        stack: str | None = None,
        sink: Sink = discard,
        capture: bool = False,
        stdin: str | None = None,
    ) -> Result:
        return Result(host=host, stack=stack, exit_status=0)


def answered_while_blocked(
    client: TestClient, opened: threading.Event, release: threading.Event, events: Events
) -> None:
    """Once the server is blocked reading the pipe, fetch two cheap pages, then release."""
    assert opened.wait(WATCHDOG), "the server never read the file"
    for url in ("/healthz", "/console"):
        events(f"{url}: {client.get(url, headers={'accept': 'text/html'}).status_code}")
    release.set()


def test_a_save_being_validated_does_not_hold_up_other_pages(tmp_path: Path) -> None:
    """Saving a compose file reads the stack's ``.env`` and parses the text, in a thread."""
    config = write_config(tmp_path, {"app": COMPOSE})
    folder = tmp_path / "stacks" / "app"
    events = Events()
    with web_client(config) as client:
        csrf = csrf_of(client)
        with pipe(folder / ".env", "IMG=busybox\n", events) as (opened, release):
            save = in_background(
                events,
                "save",
                lambda: client.post(
                    "/api/stack/app/file/compose.yaml",
                    json={"text": BIG},
                    headers={CSRF_HEADER: csrf},
                ),
            )
            answered_while_blocked(client, opened, release, events)
            save.join(WATCHDOG)

    assert events.seen == ["/healthz: 200", "/console: 200", "released", "save: 200"]
    assert (folder / "compose.yaml").read_text() == BIG


def test_a_slow_config_does_not_hold_up_other_requests(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    text = config.read_text()
    config.unlink()
    events = Events()
    with web_client(config) as client, pipe(config, text, events) as (opened, release):
        console = in_background(
            events, "console", lambda: client.get("/console", headers={"accept": "text/html"})
        )
        assert opened.wait(WATCHDOG), "the server never read the config"
        events(f"/healthz: {client.get('/healthz').status_code}")
        release.set()
        console.join(WATCHDOG)

    assert events.seen == ["/healthz: 200", "released", "console: 200"]


def test_a_stack_page_reading_its_compose_file_does_not_hold_up_other_pages(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    folder = tmp_path / "stacks" / "app"
    events = Events()
    pages: list[httpx.Response] = []

    def stack_page() -> httpx.Response:
        pages.append(client.get("/stack/app", headers={"accept": "text/html"}))
        return pages[-1]

    with (
        web_client(config, executor_factory=Idle) as client,
        pipe(folder / ".env", "IMG=busybox\n", events) as (opened, release),
    ):
        page = in_background(events, "stack page", stack_page)
        answered_while_blocked(client, opened, release, events)
        page.join(WATCHDOG)

    assert events.seen == ["/healthz: 200", "/console: 200", "released", "stack page: 200"]
    data: StackPage = context_of(pages[0])["page"]
    assert (data.services, data.error) == (["app"], None)  # the .env was read: IMG was set
