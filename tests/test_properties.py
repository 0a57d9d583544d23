"""Property-based bad input: whatever users feed cf, it answers with a result or a clear error.

Each property runs a parser on generated input and accepts exactly two
outcomes: a value, or the project's own error type with a message that names
the file. Anything else (a traceback from deep inside) fails the test.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

from compose_farm.cli.app import app
from compose_farm.compose import build_project, parse_dotenv
from compose_farm.compose.dotenv import DotEnv
from compose_farm.config import Config, load_config
from compose_farm.errors import ComposeFileError, ConfigError, FarmError, StateError
from compose_farm.state import State, parse_state
from compose_farm.traefik import Placement, generate

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KEYS = st.sampled_from(
    [
        "compose_dir",
        "hosts",
        "stacks",
        "services",
        "traefik_file",
        "traefik_stack",
        "ssh",
        "address",
        "user",
        "port",
        "all",
        "local",
        "connect_timeout",
        "x",
        "..",
        "a b",
        "h1",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.text(max_size=12),
    st.sampled_from(["all", "h1", "h2", "/opt/compose", "../x", "a;b", "$(id)", "-oX", ""]),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), children, max_size=5),
    ),
    max_leaves=25,
)
COUNTED: dict[str, int] = {}


def dump(data: object) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def count(name: str) -> None:
    COUNTED[name] = COUNTED.get(name, 0) + 1


@SETTINGS
@given(tree=TREES)
def test_any_config_tree_loads_or_names_the_file(tmp_path: Path, tree: object) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(dump(tree))
    count("config trees")
    try:
        assert isinstance(load_config(path), Config)
    except ConfigError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_config_text_loads_or_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(text)
    count("config texts")
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(tree=TREES, text=st.text(max_size=200))
def test_any_state_file_parses_or_says_it_is_unreadable(tree: object, text: str) -> None:
    for source in (dump({"version": 1, "deployed": tree}), dump(tree), text):
        count("state files")
        try:
            assert isinstance(parse_state(source, Path("/s/compose-farm-state.yaml")), State)
        except StateError as exc:
            assert "compose-farm-state.yaml" in str(exc)


SERVICE = st.fixed_dictionaries(
    {},
    optional={
        "image": SCALARS,
        "ports": st.lists(
            st.one_of(
                SCALARS,
                st.dictionaries(
                    st.sampled_from(["target", "published", "protocol", "host_ip"]), SCALARS
                ),
            ),
            max_size=3,
        ),
        "volumes": st.lists(
            st.one_of(
                SCALARS, st.dictionaries(st.sampled_from(["type", "source", "target"]), SCALARS)
            ),
            max_size=3,
        ),
        "labels": st.one_of(
            st.lists(st.text(max_size=30), max_size=3),
            st.dictionaries(st.text(max_size=30), SCALARS, max_size=3),
        ),
        "devices": st.lists(SCALARS, max_size=2),
        "networks": st.one_of(st.lists(SCALARS, max_size=2), TREES),
    },
)
COMPOSE = st.one_of(
    TREES,
    st.fixed_dictionaries(
        {"services": st.dictionaries(st.text(min_size=1, max_size=8), SERVICE, max_size=3)},
        optional={"name": SCALARS, "networks": TREES},
    ),
)


@SETTINGS
@given(doc=COMPOSE, env=st.text(max_size=120))
def test_any_compose_file_builds_or_names_the_file(doc: object, env: str) -> None:
    path = Path("/c/stack/compose.yaml")
    count("compose files")
    try:
        dotenv = parse_dotenv(env, Path("/c/stack/.env"), {})
    except ComposeFileError as exc:
        assert ".env" in str(exc)
        dotenv = DotEnv()
    try:
        project = build_project(stack="stack", path=path, text=dump(doc), dotenv=dotenv, environ={})
    except ComposeFileError as exc:
        assert "compose.yaml" in str(exc) or ".env" in str(exc)
        return
    # labels from any such file turn into a Traefik config without raising
    result = generate([Placement(project, (("h1", "10.0.0.1"), ("h2", "::1")))])
    assert isinstance(result.document, dict)


LABEL_KEY = st.builds(
    lambda proto, kind, name, rest: ".".join(["traefik", proto, kind, name, *rest]),
    st.sampled_from(["http", "tcp", "udp", "HTTP"]),
    st.sampled_from(["routers", "services", "middlewares", "Routers"]),
    st.text(min_size=1, max_size=5),
    st.lists(
        st.sampled_from(
            [
                "rule",
                "service",
                "tls",
                "loadbalancer",
                "server",
                "port",
                "LoadBalancer",
                "domains[0]",
                "main",
                "sans[1]",
                "entrypoints",
                "x",
                "",
            ]
        ),
        max_size=4,
    ),
)


@SETTINGS
@given(
    labels=st.dictionaries(LABEL_KEY, st.text(max_size=12), max_size=8),
    ports=st.lists(
        st.sampled_from(["80", "8080:80", "127.0.0.1:81:80", "9000-9001:9000-9001", "53:53/udp"]),
        max_size=3,
    ),
)
def test_any_traefik_labels_generate_without_raising(
    labels: dict[str, str], ports: list[str]
) -> None:
    count("label sets")
    doc = {"services": {"web": {"image": "x", "labels": labels, "ports": ports}}}
    try:
        project = build_project(
            stack="s", path=Path("/c/s/compose.yaml"), text=dump(doc), dotenv=DotEnv(), environ={}
        )
    except ComposeFileError:
        return
    result = generate([Placement(project, (("h1", "10.0.0.1"),))])
    assert isinstance(result.warnings, list)


CONFIG = """\
compose_dir: /nonexistent/compose
hosts:
  h1: 10.255.255.1
stacks:
  plex: h1
"""
WORDS = st.sampled_from(
    [
        "list",
        "config",
        "show",
        "path",
        "validate",
        "up",
        "down",
        "logs",
        "traefik-file",
        "check",
        "--local",
        "--json",
        "--host",
        "-H",
        "--all",
        "--tail",
        "-n",
        "--service",
        "-s",
        "plex",
        "h1",
        "all",
        "../x",
        "a;b",
        "$(id)",
        "--",
        "-x",
        "",
        "nope",
        "--dry-run",
    ]
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=5))
def test_cli_arguments_never_traceback(tmp_path: Path, args: list[str]) -> None:
    """Commands that would touch hosts are kept off them: the only stack's host does not exist."""
    if args and args[0] in {"up", "down", "logs"} and "plex" in args:
        args = [a for a in args if a != "plex"]
    config = tmp_path / "compose-farm.yaml"
    config.write_text(CONFIG)
    count("command lines")
    result = CliRunner().invoke(app, [*args, "-c", str(config)] if args else ["-c", str(config)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert isinstance(result.exception, FarmError), repr(result.exception)


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> object:
    """Print how many bad inputs were tried (docs/reliability.md quotes it)."""
    yield
    print("\nbad inputs tried:", dict(sorted(COUNTED.items())), "total", sum(COUNTED.values()))
