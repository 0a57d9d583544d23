"""Reading YAML is bounded (``yamlio.py``): alias bombs, self-containing aliases and deep
nesting are refused at their line, by every reader (config, compose file, state file);
anchors and ``<<:`` merges as real compose files use them keep working.

The differential tests run Docker Compose v2 (``docker compose config``, no daemon
needed) on the same files. Compose refuses an alias inside the node it names, as cf
does, and accepts what cf accepts; it does not refuse alias bombs: it expands them
(a 9^6 one took it about a minute and 800 MB), so those are checked on cf alone.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compose_farm.compose import load_compose
from compose_farm.compose.document import parse_document
from compose_farm.errors import ComposeFileError, ConfigError, StateError
from compose_farm.state import StateStore
from compose_farm.yamlio import MAX_ALIAS_NODES, MAX_DEPTH, parse_yaml
from tests.support.cf import run_cf

LETTERS = "abcdefghij"


def laughs(levels: int, indent: str = "") -> str:
    """A billion-laughs mapping: ``a`` is 9 words, each next key 9 aliases of the one before."""
    lines = [f"{indent}a: &a [" + ", ".join(["lol"] * 9) + "]"]
    for before, name in itertools.pairwise(LETTERS[:levels]):
        lines.append(f"{indent}{name}: &{name} [" + ", ".join([f"*{before}"] * 9) + "]")
    return "".join(line + "\n" for line in lines)


# a: 10 nodes, b: 91, c: 820, d: 7381, e: 66430. Aliases add 9 x each, so up to e
# they add 74,718 nodes and the first *e of f crosses 100,000: f is on line 6.
BOMB = laughs(9)
BOMB_LINE = 6
SERVICES = "services:\n  app:\n    image: busybox\n"


def compose_file(tmp_path: Path, text: str, stack: str = "web") -> Path:
    path = tmp_path / stack / "compose.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, Path("/f.yaml"))
    return caught.value


# --- the three readers ----------------------------------------------------------------


def test_the_config_bomb_is_refused_by_cf_at_its_alias(tmp_path: Path) -> None:
    config = tmp_path / "compose-farm.yaml"
    config.write_text(BOMB + "compose_dir: /opt\nhosts: {nuc: 10.0.0.1}\nstacks: {}\n")

    done = run_cf("config", "validate", "-c", str(config), timeout=30)

    assert done.returncode == 2, done
    assert f"{config}:{BOMB_LINE}: aliases expand too far" in done.stderr + done.stdout


def test_a_bomb_in_a_compose_file_is_a_compose_file_error(tmp_path: Path) -> None:
    path = compose_file(tmp_path, SERVICES + "x-bomb:\n" + laughs(9, indent="  "))

    with pytest.raises(ComposeFileError) as caught:
        load_compose(tmp_path, "web", {})

    assert f"{path}:{4 + BOMB_LINE}: aliases expand too far" in str(caught.value)


def test_a_bomb_in_the_state_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text("version: 1\ndeployed: {}\nx:\n" + laughs(9, indent="  "))

    with pytest.raises(StateError) as caught:
        StateStore(path).read()

    assert f"{path}:{3 + BOMB_LINE}: aliases expand too far" in str(caught.value)


# --- where the limits are -------------------------------------------------------------

BIG = "a: &a [" + ", ".join(["x"] * 999) + "]\n"  # 1000 nodes
AT_CAP = BIG + "s: &s x\nb: [" + ", ".join(["*a"] * (MAX_ALIAS_NODES // 1000)) + "]\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (AT_CAP, None, None),  # aliases add exactly MAX_ALIAS_NODES
        (AT_CAP + "c: *s\n", 4, "aliases expand too far: with *s here"),
        (laughs(5), None, None),  # 74,718 added
        (laughs(6), BOMB_LINE, "aliases expand too far: with *e here"),
        ("a: &a [1, *a]\n", 1, "the alias *a refers to a node that contains it"),
        ("a: &a {b: {c: *a}}\n", 1, "the alias *a refers to a node that contains it"),
        ("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", None, None),
        ("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n", 1, f"more than {MAX_DEPTH} levels"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1, f"more than {MAX_DEPTH} levels"),
        ("".join("  " * n + f"k{n}:\n" for n in range(MAX_DEPTH + 1)), MAX_DEPTH, "levels deep"),
    ],
    ids=[
        "at-cap",
        "one-past-cap",
        "five-levels",
        "six-levels",
        "self-in-seq",
        "self-in-map",
        "deep-at-limit",
        "deep-past-limit",
        "very-deep",
        "deep-block",
    ],
)
def test_limits(text: str, line: int | None, message: str | None) -> None:
    if message is None:
        assert parse_yaml(text, Path("/f.yaml")) is not None
        return
    error = refusal(text)
    assert (error.path, error.line) == (Path("/f.yaml"), line)
    assert message in error.message


# --- what real files do ---------------------------------------------------------------


def anchored(count: int = 50) -> str:
    """``count`` services merging one ``x-common`` block; the last overrides ``restart``."""
    parts = [
        "x-common: &common\n"
        "  restart: unless-stopped\n"
        "  labels: &labels\n"
        "    team: core\n"
        "    tier: web\n"
        "  environment:\n"
        "    TZ: UTC\n"
        "services:\n"
    ]
    for n in range(count):
        parts.append(f"  s{n:02}:\n    <<: *common\n    image: busybox\n")
    parts.append("    restart: always\n    command: [sh, -c, 'echo hi']\n")
    return "".join(parts)


def merged(services: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What ``<<: *common`` gave each service."""
    return {
        name: (s["restart"], s["labels"], s["environment"], s["image"])
        for name, s in services.items()
    }


EXPECTED = {
    f"s{n:02}": (
        "always" if n == 49 else "unless-stopped",
        {"team": "core", "tier": "web"},
        {"TZ": "UTC"},
        "busybox",
    )
    for n in range(50)
}


def test_anchors_and_merges_in_fifty_services_keep_working(tmp_path: Path) -> None:
    path = compose_file(tmp_path, anchored())

    doc = parse_document(path.read_text(), path, {})

    assert merged(doc.data["services"]) == EXPECTED
    assert doc.line(("services", "s49", "restart")) == path.read_text().count("\n") - 1


# --- Docker Compose on the same files -------------------------------------------------


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """``docker compose config --format json`` on ``path``; skips (fails in CI) without it."""
    docker = shutil.which("docker")
    found = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
        == 0
    )
    if not found or docker is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("`docker compose` is missing in CI", pytrace=False)
        pytest.skip("no `docker compose` here")
    return subprocess.run(
        [docker, "compose", "-f", str(path), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(path.parent)},
    )


def test_compose_merges_the_anchored_file_as_cf_does(tmp_path: Path) -> None:
    path = compose_file(tmp_path, anchored())

    done = compose_config(path)

    assert done.returncode == 0, done.stderr
    assert merged(json.loads(done.stdout)["services"]) == EXPECTED
    assert merged(parse_document(path.read_text(), path, {}).data["services"]) == EXPECTED


def test_compose_accepts_what_aliases_add_below_the_cap(tmp_path: Path) -> None:
    path = compose_file(tmp_path, SERVICES + "x-many:\n" + laughs(5, indent="  "))

    done = compose_config(path)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["x-many"]["e"][8][8][8][8] == ["lol"] * 9
    assert parse_document(path.read_text(), path, {}).data["x-many"]["e"][8][8][8][8] == ["lol"] * 9


def test_compose_refuses_an_alias_inside_its_own_node_as_cf_does(tmp_path: Path) -> None:
    path = compose_file(tmp_path, SERVICES + "x-loop: &loop {next: *loop}\n")

    done = compose_config(path)

    assert done.returncode != 0
    assert "cycle" in done.stderr
    with pytest.raises(ComposeFileError, match=f"{path}:4: the alias \\*loop refers"):
        parse_document(path.read_text(), path, {})


def test_the_web_refuses_a_bomb_in_the_editor_and_shows_a_bombed_stack_page(
    tmp_path: Path,
) -> None:
    from compose_farm.web.auth import CSRF_HEADER
    from tests.support.web import csrf_of, web_client, write_config

    bombed = f"x-laughs:\n{laughs(9, '  ')}{SERVICES}"
    path = write_config(tmp_path, {"app": SERVICES, "bombed": bombed})
    with web_client(path) as client:
        saved = client.post(
            "/api/stack/app/file/compose.yaml",
            json={"text": bombed},
            headers={CSRF_HEADER: csrf_of(client)},
        )
        assert saved.status_code == 400, saved.text
        assert "aliases expand too far" in saved.json()["detail"], saved.text
        assert (tmp_path / "stacks" / "app" / "compose.yaml").read_text() == SERVICES
        page = client.get("/stack/bombed", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "aliases expand too far" in page.text
        assert client.get("/healthz").status_code == 200  # and the server goes on
