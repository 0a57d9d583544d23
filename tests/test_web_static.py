"""The UI works offline: nothing it serves points at the internet, and the vendored assets
are exactly the ones recorded in ``static/vendor/VERSIONS.txt``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

WEB = Path(__file__).parent.parent / "src" / "compose_farm" / "web"
STATIC = WEB / "static"
VENDOR = STATIC / "vendor"
URL = re.compile(r"(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'<>)]*")
# An SVG's namespace is a name, never fetched.
NAMESPACE = re.compile(r'xmlns(?::\w+)?="http://www\.w3\.org/[^"]*"')


def ours() -> list[Path]:
    """Templates and our scripts and stylesheets: everything the UI serves that is not
    vendored."""
    found = sorted(WEB.glob("templates/**/*.html"))
    return [*found, *sorted(STATIC.glob("*.js")), *sorted(STATIC.glob("*.css"))]


@pytest.mark.parametrize("path", ours(), ids=lambda p: str(p.relative_to(WEB)))
def test_no_external_url_in_what_the_ui_serves(path: Path) -> None:
    text = NAMESPACE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)  # Jinja comments are not served

    assert URL.findall(text) == []


def test_the_check_finds_urls_but_not_svg_namespaces() -> None:
    page = (
        '<script src="https://cdn.example.com/htmx.js"></script>'
        "<link href='//fonts.example.org/css'>"
        "@import url(http://example.net/x.css);"
        'fetch("HTTP://api.example.io/v1")'
        '<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    )
    assert len(URL.findall(NAMESPACE.sub("", page))) == 4


def recorded() -> dict[str, str]:
    """Path (relative to vendor/) -> sha256, from VERSIONS.txt."""
    lines = (VENDOR / "VERSIONS.txt").read_text(encoding="utf-8").splitlines()
    sums = [re.fullmatch(r"([0-9a-f]{64})  (\S+)", line) for line in lines]
    return {m.group(2): m.group(1) for m in sums if m}


def test_vendored_assets_match_their_recorded_checksums() -> None:
    sums = recorded()
    assert len(sums) >= 10, sums
    for name, digest in sums.items():
        path = (VENDOR / name).resolve()
        assert path.is_relative_to(WEB), name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name


def test_every_vendored_file_is_recorded() -> None:
    present = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name != "VERSIONS.txt"
    }
    assert present == {n for n in recorded() if not n.startswith("../")}
