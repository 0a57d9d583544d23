"""Static files are compressed; pages are not (a page holds the session's CSRF token: a
compressed response that also reflects input would leak it, BREACH). The favicon is
one of the static files and needs no login."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

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


def test_each_file_is_compressed_once_and_a_changed_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compose_farm.web import staticfiles

    (tmp_path / "a.js").write_text("var x = 1;\n" * 200)
    (tmp_path / "tiny.css").write_text("b{}")
    compressed: list[str] = []
    real = staticfiles._gzip

    def counted(path: Path) -> bytes:
        compressed.append(path.name)
        return real(path)

    monkeypatch.setattr(staticfiles, "_gzip", counted)
    app = Starlette(routes=[Mount("/static", staticfiles.PackagedStatic(tmp_path))])
    with TestClient(app) as client:
        first = client.get("/static/a.js", headers=GZIP)
        again = client.get("/static/a.js", headers=GZIP)
        tiny = client.get("/static/tiny.css", headers=GZIP)
        plain = client.get("/static/a.js", headers={"accept-encoding": "identity"})
        same = client.get("/static/a.js", headers={**GZIP, "if-none-match": first.headers["etag"]})
        head = client.head("/static/a.js", headers=GZIP)
        (tmp_path / "a.js").write_text("var y = 2;\n" * 300)
        changed = client.get("/static/a.js", headers=GZIP)

    assert first.headers["content-encoding"] == "gzip" and first.text == "var x = 1;\n" * 200
    assert first.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert first.headers["vary"] == "Accept-Encoding"
    assert again.content == first.content and compressed[:1] == ["a.js"]
    assert "content-encoding" not in tiny.headers and "content-encoding" not in plain.headers
    assert plain.text == first.text
    assert same.status_code == 304 and same.content == b""
    assert head.status_code == 200 and head.content == b""
    assert changed.text == "var y = 2;\n" * 300 and changed.headers["etag"] != first.headers["etag"]
    assert compressed == ["a.js", "a.js"]  # once, then once more after the change


def test_a_path_out_of_the_static_folder_is_never_served_compressed(tmp_path: Path) -> None:
    from compose_farm.web.staticfiles import PackagedStatic

    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "ok.js").write_text("ok();\n" * 200)
    (tmp_path / "secret.js").write_text("secret();\n" * 200)
    (tmp_path / "static" / "link.js").symlink_to(tmp_path / "secret.js")
    app = Starlette(routes=[Mount("/static", PackagedStatic(tmp_path / "static"))])
    with TestClient(app) as client:
        answers = {
            path: client.get(path, headers=GZIP)
            for path in (
                "/static/../secret.js",
                "/static/%2e%2e/secret.js",
                "/static/..%2fsecret.js",
                "/static/link.js",
                "/static/nope.js",
            )
        }
        ok = client.get("/static/ok.js", headers=GZIP)

    assert ok.status_code == 200 and ok.headers["content-encoding"] == "gzip"
    for path, answer in answers.items():
        assert answer.status_code == 404, (path, answer.status_code)
        assert "secret()" not in answer.text, path
