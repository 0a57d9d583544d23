"""Static files are compressed; pages are not (a page holds the session's CSRF token: a
compressed response that also reflects input would leak it, BREACH). The favicon is
one of the static files and needs no login."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.web import web_app, web_client, write_config
from tests.test_web_responsive import Idle

COMPOSE = "services:\n  app:\n    image: busybox\n"
GZIP = {"accept-encoding": "gzip"}


def test_static_files_are_compressed_and_pages_are_not(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    with web_client(config, executor_factory=Idle) as client:
        script = client.get("/static/app.js", headers=GZIP)
        assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
        assert "htmx:confirm" in script.text  # decoded as a browser would
        raw = int(script.headers.get("content-length", "0"))
        assert 0 < raw < len(script.content)  # fewer bytes on the wire than the file
        for path in ("/", "/stack/app", "/partials/stacks"):
            page = client.get(path, headers={**GZIP, "accept": "text/html"})
            assert page.status_code == 200, path
            assert "content-encoding" not in page.headers, path


def test_the_favicon_is_served_without_a_login(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    with TestClient(web_app(config, executor_factory=Idle)) as anonymous:
        icon = anonymous.get("/static/favicon.svg")
        assert icon.status_code == 200 and icon.text.startswith("<svg")
        assert anonymous.get("/", follow_redirects=False).status_code == 401  # pages need one
    with web_client(config, executor_factory=Idle) as client:
        assert 'rel="icon" href="/static/favicon.svg"' in client.get("/").text
