"""Loading compose files: services, labels, networks, project names, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose_farm.compose import (
    ComposeProject,
    DotEnv,
    PublishedPort,
    build_project,
    load_compose,
    parse_dotenv,
)
from compose_farm.errors import ComposeFileError

PATH = Path("/stacks/web/compose.yaml")


def project(
    text: str,
    env: str = "",
    environ: dict[str, str] | None = None,
    path: Path = PATH,
) -> ComposeProject:
    environ = environ or {}
    dotenv = parse_dotenv(env, path.parent / ".env", environ) if env else DotEnv()
    return build_project(stack="web", path=path, text=text, dotenv=dotenv, environ=environ)


def test_service_fields() -> None:
    p = project(
        """
services:
  app:
    image: "nginx:${TAG:-1.27}"
    container_name: ${NAME}
    ports: ["${PORT}:80", {target: 443, published: 8443}]
    volumes: [./data:/data, cache:/cache]
    devices: [/dev/dri:/dev/dri]
    networks: [proxy]
  worker:
    build: .
networks:
  proxy: {external: true}
volumes:
  cache:
""",
        env="NAME=web-app\nPORT=8080\n",
    )
    app = p.services["app"]
    assert app.image == "nginx:1.27"
    assert app.container_name == "web-app"
    assert app.ports == [
        PublishedPort(target=80, published=8080),
        PublishedPort(target=443, published=8443),
    ]
    assert app.bind_mounts == [Path("/stacks/web/data")]
    assert app.devices == ["/dev/dri"]
    assert app.networks == ["proxy"]
    worker = p.services["worker"]
    assert (worker.image, worker.container_name, worker.ports) == (None, None, [])
    assert worker.networks == ["default"]
    assert p.path == PATH
    assert p.stack == "web"


LABELS: list[tuple[str, dict[str, str]]] = [
    ("{a: b, n: 12, t: true, f: 1.5, e: 1e3, z: null}",
     {"a": "b", "n": "12", "t": "true", "f": "1.5", "e": "1000", "z": ""}),
    ("[a=b, c, d=, e=f=g]", {"a": "b", "c": "", "d": "", "e": "f=g"}),
    ("[a=1, a=2]", {"a": "2"}),
    ('{"traefik.http.routers.${R}.rule": "Host(`${HOST}`)"}',
     {"traefik.http.routers.${R}.rule": "Host(`example.com`)"}),
    ('["traefik.enable=${ON:-true}", "host=${HOST}", "cost=$$5"]',
     {"traefik.enable": "true", "host": "example.com", "cost": "$5"}),
    ("", {}),
    # numbers as Compose prints them (Go's YAML reader and %v)
    ("{a: 0755, b: 1e15, c: .inf, d: -0.0, e: 123456789.0, f: 1_000, g: 0x1F, h: 08}",
     {"a": "493", "b": "1e+15", "c": "+Inf", "d": "-0", "e": "1.23456789e+08", "f": "1000",
      "g": "31", "h": "8"}),
    ("{a: yes, b: on, c: 1e400, d: 0.00001, e: 99999999999999999999}",
     {"a": "yes", "b": "on", "c": "1e400", "d": "1e-05", "e": "1e+20"}),
]  # fmt: skip


@pytest.mark.parametrize(("labels", "expected"), LABELS, ids=[t for t, _ in LABELS])
def test_labels(labels: str, expected: dict[str, str]) -> None:
    text = f"services:\n  s:\n    image: x\n    labels: {labels or '{}'}\n"
    assert project(text, env="HOST=example.com\nR=r1").services["s"].labels == expected


NETWORKS: list[tuple[str, list[str]]] = [
    ("networks: [a, b]", ["a", "b"]),
    ("networks: {a: {aliases: [x]}, b: null}", ["a", "b"]),
    ("network_mode: host", []),
    ("network_mode: service:db", []),
    ("restart: always", ["default"]),
]


@pytest.mark.parametrize(("snippet", "expected"), NETWORKS, ids=[s for s, _ in NETWORKS])
def test_service_networks(snippet: str, expected: list[str]) -> None:
    text = (
        f"services:\n  s:\n    image: x\n    {snippet}\n  db:\n    image: y\n"
        "networks: {a: {}, b: {}}\n"
    )
    assert project(text).services["s"].networks == expected


def test_external_networks() -> None:
    p = project(
        """
services:
  s:
    image: x
    networks: [plain, renamed, legacy, internal, not_external, bare]
  t:
    image: x
    profiles: [off]
    networks: [unused]
networks:
  unused: {external: true}
  plain: {external: true}
  renamed: {external: true, name: "real-${SUFFIX}"}
  legacy: {external: {name: real-legacy}}
  internal: {}
  not_external: {external: false}
  bare:
""",
        environ={"SUFFIX": "one"},
    )
    assert p.external_networks == {
        "plain": "plain",
        "renamed": "real-one",
        "legacy": "real-legacy",
    }
    assert any("external.name is deprecated" in w and ":14:" in w for w in p.warnings)


PROJECT_NAMES: list[tuple[str, str, dict[str, str], str]] = [
    # (folder, name: line or "", environ, expected)
    ("web", "", {}, "web"),
    ("My.Stack_1", "", {}, "mystack_1"),
    ("-_Abc-d", "", {}, "abc-d"),
    ("élan", "", {}, "lan"),
    ("web", "name: explicit", {}, "explicit"),
    ("web", "name: My.App", {}, "myapp"),
    ("web", "name: _x", {}, "x"),
    ("web", "name: '${PN:-from-default}'", {}, "from-default"),
    ("web", "name: ${PN}", {"PN": "from-env"}, "from-env"),
    ("web", "name: ''", {}, "web"),
    ("web", "name: explicit", {"COMPOSE_PROJECT_NAME": "override"}, "override"),
]


@pytest.mark.parametrize(("folder", "name_line", "environ", "expected"), PROJECT_NAMES)
def test_project_name(folder: str, name_line: str, environ: dict[str, str], expected: str) -> None:
    text = f"{name_line}\nservices: {{}}\n"
    path = Path("/stacks") / folder / "compose.yaml"
    assert project(text, environ=environ, path=path).project_name == expected


def test_project_name_from_dotenv() -> None:
    assert project("services: {}", env="COMPOSE_PROJECT_NAME=fromenv").project_name == "fromenv"


@pytest.mark.parametrize(
    ("folder", "name_line", "environ", "message"),
    [
        ("...", "", {}, "empty project name"),
        ("web", "name: '...'", {}, "no letter or digit"),
        ("web", "", {"COMPOSE_PROJECT_NAME": "Bad"}, "invalid project name 'Bad'"),
    ],
)
def test_project_name_errors(
    folder: str, name_line: str, environ: dict[str, str], message: str
) -> None:
    path = Path("/stacks") / folder / "compose.yaml"
    with pytest.raises(ComposeFileError, match=message) as raised:
        project(f"{name_line}\nservices: {{}}\n", environ=environ, path=path)
    assert str(path) in str(raised.value)


def test_environment_wins_over_dotenv() -> None:
    p = project(
        "services:\n  s:\n    image: 'img:${TAG}-${ONLY_FILE}'\n",
        env="TAG=from-file\nONLY_FILE=f",
        environ={"TAG": "from-shell"},
    )
    assert p.services["s"].image == "img:from-shell-f"


def test_unset_variables_warn_once_with_line() -> None:
    p = project("services:\n  s:\n    image: $X\n    build: .\n    labels: [a=$X, b=$Y]\n")
    assert p.warnings == [
        f'{PATH}:3: The "X" variable is not set. Defaulting to a blank string.',
        f'{PATH}:5: The "Y" variable is not set. Defaulting to a blank string.',
    ]


def test_keys_are_not_interpolated_but_extensions_are() -> None:
    p = project(
        "x-foo: ${A}\nservices:\n  s:\n    image: x\n    labels: {'${A}': v}\n", environ={"A": "a"}
    )
    assert p.document["x-foo"] == "a"
    assert p.services["s"].labels == {"${A}": "v"}


def test_anchors_merge_keys_and_extensions() -> None:
    p = project(
        """
x-common: &common
  image: "app:$$literal"
  labels: &labels
    team: ${TEAM}
services:
  a:
    <<: *common
    ports: ["80"]
  b:
    <<: *common
    image: other
    labels: *labels
""",
        environ={"TEAM": "ops"},
    )
    assert p.services["a"].image == "app:$literal"  # "$$" applied once although shared
    assert p.services["a"].labels == {"team": "ops"}
    assert p.services["b"].image == "other"
    assert p.services["b"].labels == {"team": "ops"}


def test_reset_and_override_tags() -> None:
    p = project("services:\n  s:\n    image: !override x\n    ports: !reset []\n")
    assert p.services["s"].image == "x"
    assert "ports" not in p.document["services"]["s"]


def test_extension_keys_are_fine() -> None:
    p = project("version: '3.8'\nx-a: 1\nservices:\n  s:\n    image: x\n    x-any: {deep: [1]}\n")
    assert p.services["s"].image == "x"


def test_secret_values_and_mask() -> None:
    p = project("services: {}", env="PASSWORD=hunter22\nPORT=80\nEMPTY=")
    assert p.secret_values == frozenset({"hunter22", "80"})
    assert p.mask("login with hunter22 on port 80") == "login with *** on port 80"
    assert "hunter22" not in repr(p)


# (compose text, message part, line or None)
ERRORS: list[tuple[str, str, int | None]] = [
    ("services:\n  s:\n    image: [unclosed\n", "YAML syntax error", 4),
    ("services:\n  s:\n    image: x\n    image: y\n", 'key "image" already defined at line 3', 4),
    ("services:\n  s: *nope\n", "YAML syntax error", 2),
    ("", "empty compose file", None),
    ("- a\n- b\n", "the top level must be a mapping", None),
    ("services: [a]\n", "services: must be a mapping", 1),
    ("services:\n  s:\n", "services.s: must be a mapping", 2),
    ("services:\n  s: 3\n", "services.s: must be a mapping", 2),
    ("services:\n  s:\n    image: ${X:?set X first}\n", "required variable X", 3),
    ("services:\n  s:\n    image: ${X\n", "services.s.image: invalid interpolation", 3),
    (
        "services:\n  s:\n    image: x\n    ports:\n      - 80\n      - 'x:80'\n",
        "services.s.ports[1]",
        6,
    ),
    ("services:\n  s:\n    ports: '80'\n", "services.s.ports: must be a list", 3),
    ("services:\n  s:\n    labels: a\n", "services.s.labels: must be a list or a mapping", 3),
    ("services:\n  s:\n    image: x\n    volumes: ['./a:/b:ro:z']\n", "too many colons", 4),
    ("services:\n  s:\n    image: x\n    devices: [{source: /dev/x}]\n", "services.s.devices", 4),
    # what Compose refuses, cf refuses first
    ("services:\n  s:\n    ports: ['80']\n", "services.s: has neither an image nor a build", 2),
    ("services:\n  s:\n    image: x\n    volumes: [data:/d]\n", "undefined volume data", 4),
    ("services:\n  s:\n    image: x\n    networks: [n]\n", "undefined network n", 4),
    ("services:\n  s:\n    image: x\n    ports: null\n", "services.s.ports: must be a list", 4),
    ("services:\n  s:\n    image: x\n    labels: {a: 2001-01-01}\n", "a date (2001-01-01)", 4),
    ("name: 123\nservices: {}\n", "name: must be a string", 1),
    ("foo: 1\nservices: {}\n", "foo: a top-level key Compose does not know", 1),
    (
        "services:\n  s:\n    image: x\n    volumes: [{source: /a, target: /b}]\n",
        "needs a 'type'",
        4,
    ),
    (
        "services:\n  s:\n    image: x\n    imgae: y\n",
        "service key Compose does not know ('imgae')",
        4,
    ),
    ("services:\n  s:\n    image: x\n    depends_on: [db]\n", "undefined service 'db'", 4),
    (
        "services:\n  s:\n    image: x\n    network_mode: host\n    networks: [default]\n",
        "cannot both be set",
        4,
    ),
    (
        "services:\n  s:\n    image: x\n    env_file: nope.env\n",
        "env file /stacks/web/nope.env not found",
        4,
    ),
    ("services:\n  s:\n    networks: 3\n", "services.s.networks", 3),
    (
        "services:\n  s:\n    image: x\n    ports: [{target: 80, published: 8080.5}]\n",
        "services.s.ports[0].published",
        4,
    ),
    ("services:\n  s:\n    image: {a: b}\n", "services.s.image: must be a string", 3),
    ("networks: [a]\nservices: {}\n", "networks: must be a mapping", 1),
]


@pytest.mark.parametrize(("text", "message", "line"), ERRORS, ids=[m for _, m, _ in ERRORS])
def test_errors_name_file_and_line(text: str, message: str, line: int | None) -> None:
    with pytest.raises(ComposeFileError) as raised:
        project(text)
    rendered = str(raised.value)
    assert rendered.startswith(f"{PATH}:{line}: " if line else f"{PATH}: ")
    assert message in rendered


def test_load_compose_reads_files(tmp_path: Path) -> None:
    stack = tmp_path / "Web.App"
    stack.mkdir()
    (stack / "docker-compose.yml").write_text(
        "services:\n  s:\n    image: 'x:${TAG}'\n    volumes: [./d:/d]\n", encoding="utf-8"
    )
    (stack / ".env").write_text("TAG=1.0\nTOKEN=abcdef\n", encoding="utf-8")
    p = load_compose(tmp_path, "Web.App", {})
    assert p.path == stack / "docker-compose.yml"
    assert p.project_name == "webapp"
    assert p.services["s"].image == "x:1.0"
    assert p.services["s"].bind_mounts == [stack / "d"]
    assert p.env_values == {"TAG": "1.0", "TOKEN": "abcdef"}
    assert p.warnings == []


def test_load_compose_merges_the_override_file(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "compose.yaml").write_text("services: {s: {image: a}}\n", encoding="utf-8")
    (tmp_path / "web" / "compose.override.yaml").write_text(
        "services: {s: {image: b}}\n", encoding="utf-8"
    )
    p = load_compose(tmp_path, "web", {})
    assert p.services["s"].image == "b"
    assert p.files == (
        tmp_path / "web" / "compose.yaml",
        tmp_path / "web" / "compose.override.yaml",
    )


@pytest.mark.parametrize("stack", ["../etc", "a/b", "", ".hidden"])
def test_load_compose_rejects_unsafe_stack_names(tmp_path: Path, stack: str) -> None:
    with pytest.raises(ComposeFileError, match="stack name"):
        load_compose(tmp_path, stack, {})


def test_load_compose_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "compose.yaml").write_bytes(b"services: {s: {image: '\xff'}}\n")
    with pytest.raises(ComposeFileError, match="cannot read the compose file"):
        load_compose(tmp_path, "web", {})
