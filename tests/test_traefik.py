"""Traefik file-provider generation: the cases in data/traefik/*.yaml, placement and writing.

Each case is a compose file (or several stacks), the hosts it is placed on
and the whole expected document; the format is described at the top of
data/traefik/http.yaml. tests/e2e/test_traefik_routing.py loads every case's
output into a real Traefik as well, which must log no error about it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from compose_farm.compose import ComposeProject, build_project, parse_dotenv
from compose_farm.config import Config
from compose_farm.state import State
from compose_farm.traefik import (
    Placement,
    TraefikConfig,
    build,
    defined_names,
    docker_names,
    generate,
    placements,
    regenerate,
    render,
    write_if_changed,
)
from compose_farm.traefik.build import HEADER
from tests.support.config import make_config

DATA = Path(__file__).parent / "data" / "traefik"
COMPOSE_DIR = Path("/opt/compose")
STACK_KEYS = {"stack", "hosts", "compose", "env", "environ", "docker"}
CASE_KEYS = {
    "name",
    "doc",
    "stacks",
    "traefik_hosts",
    "elsewhere",
    "expect",
    "warnings",
    "xfail",
    *STACK_KEYS,
}


def load_cases() -> list[dict[str, Any]]:
    """Every case of every data file, with ``id`` set to ``FILE/NAME``."""
    cases: list[dict[str, Any]] = []
    for path in sorted(DATA.glob("*.yaml")):
        for case in YAML(typ="safe").load(path.read_text(encoding="utf-8")):
            unknown = set(case) - CASE_KEYS
            assert not unknown, f"{path.name}: {case.get('name')}: unknown keys {unknown}"
            cases.append({**case, "id": f"{path.stem}/{case['name']}"})
    return cases


CASES = load_cases()


def case_params(cases: list[dict[str, Any]] = CASES) -> list[Any]:
    """``pytest.param`` per case; ``xfail: BUG...`` cases must fail (strict)."""
    return [
        pytest.param(
            case,
            id=case["id"],
            marks=[pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else [],
        )
        for case in cases
    ]


def project(spec: dict[str, Any]) -> ComposeProject:
    """One stack of a case, parsed as ``load_compose`` would read it from disk."""
    stack = spec.get("stack", "web")
    path = COMPOSE_DIR / stack / "compose.yaml"
    environ: dict[str, str] = {k: str(v) for k, v in (spec.get("environ") or {}).items()}
    dotenv = parse_dotenv(spec.get("env", ""), path.parent / ".env", environ)
    return build_project(
        stack=stack, path=path, text=spec["compose"], dotenv=dotenv, environ=environ
    )


def placement(spec: dict[str, Any], traefik_hosts: Sequence[str] = ()) -> Placement:
    """A stack of a case on its hosts; those in ``traefik_hosts`` run Traefik."""
    hosts = tuple((str(name), str(address)) for name, address in spec["hosts"].items())
    return Placement(project(spec), hosts, tuple(h for h, _ in hosts if h in traefik_hosts))


def stack_specs(case: dict[str, Any]) -> list[dict[str, Any]]:
    return case.get("stacks") or [{k: v for k, v in case.items() if k in STACK_KEYS}]


def names_of(spec: dict[str, Any]) -> frozenset[tuple[str, str, str]]:
    """What Traefik's Docker provider defines from one stack of a case."""
    return defined_names(project(spec))


def generated(case: dict[str, Any]) -> TraefikConfig:
    """The generator's result for ``case``: stacks marked ``docker`` only lend their names."""
    specs = stack_specs(case)
    traefik_hosts = [str(h) for h in case.get("traefik_hosts", ())]
    placed = [placement(spec, traefik_hosts) for spec in specs if not spec.get("docker")]
    docker = {name for spec in specs if spec.get("docker") for name in names_of(spec)}
    return generate(placed, docker)


def assert_warnings(actual: list[str], expected: list[str | list[str]]) -> None:
    assert len(actual) == len(expected), f"warnings: {actual}"
    for got, wanted in zip(actual, expected, strict=True):
        for part in [wanted] if isinstance(wanted, str) else wanted:
            assert part in got, f"{part!r} not in warning {got!r}"


@pytest.mark.parametrize("case", case_params())
def test_case(case: dict[str, Any]) -> None:
    result = generated(case)
    assert result.document == case["expect"]
    assert_warnings(result.warnings, case.get("warnings", []))


@pytest.mark.parametrize("case", case_params())
def test_rendered_file_reads_back_as_the_document(case: dict[str, Any]) -> None:
    """What lands on disk is the document (any YAML reader), under the header comment."""
    result = generated(case)
    text = render(result)
    assert text.startswith(HEADER)
    assert yaml.safe_load(text) == (result.document or {})
    assert result.document == case["expect"]  # an xfail case must fail here too


def test_enough_cases() -> None:
    assert len(CASES) >= 20
    assert len({c["id"] for c in CASES}) == len(CASES)


def test_empty_render() -> None:
    assert render(TraefikConfig()) == HEADER + "{}\n"


def test_a_long_rule_stays_on_one_line() -> None:
    """The file is read by people too: no value is folded onto a second line."""
    rule = " || ".join(f"Host(`site{i}.a-rather-long-domain.example.com`)" for i in range(6))
    text = render(TraefikConfig(document={"http": {"routers": {"r": {"rule": rule}}}}))
    assert f"rule: {rule}\n" in text
    assert not [line for line in text.splitlines() if line.endswith(" ")]


def test_output_is_stable_whatever_the_placement_order() -> None:
    case = next(c for c in CASES if c["name"] == "two-stacks-one-router-name-keeps-the-first")
    forward = [placement(spec) for spec in case["stacks"]]
    one = generate(forward)
    other = generate(forward[::-1])
    assert render(one) == render(other)
    assert one.warnings == other.warnings


# --- placements: which stacks, on which hosts --------------------------------------

LABELS = """\
services:
  app:
    image: nginx
    ports: ["18080:80"]
    labels:
      - traefik.http.routers.{name}.rule=Host(`{name}.example.com`)
"""
ADDRESSES = {"h1": "10.0.0.1", "h2": "10.0.0.2", "h3": "10.0.0.3"}


def farm(
    tmp_path: Path,
    stacks: dict[str, tuple[str, ...]],
    traefik_stack: str | None = None,
    traefik_file: Path | None = None,
) -> Config:
    """A config over h1..h3 whose stacks have compose files with one router each."""
    return make_config(
        tmp_path,
        compose={name: LABELS.format(name=name) for name in stacks},
        compose_dir=tmp_path / "compose",
        hosts=ADDRESSES,
        stacks={name: list(hosts) for name, hosts in stacks.items()},
        traefik_stack=traefik_stack,
        traefik_file=traefik_file,
    )


def where(found: list[Placement]) -> dict[str, tuple[tuple[str, str], ...]]:
    return {p.project.stack: p.hosts for p in found}


def test_stacks_on_the_traefik_host_are_left_to_its_docker_provider(tmp_path: Path) -> None:
    cfg = farm(
        tmp_path,
        {"proxy": ("h1",), "near": ("h1",), "far": ("h2",), "both": ("h1", "h3")},
        traefik_stack="proxy",
    )
    state = State({"proxy": ("h1",), "near": ("h1",), "far": ("h2",), "both": ("h1", "h3")})
    warnings: list[str] = []
    found = placements(cfg, state, None, {}, warnings)
    # `both` keeps its Traefik-host copy: the file balances over h1 and h3.
    assert where(found) == {
        "both": (("h1", "10.0.0.1"), ("h3", "10.0.0.3")),
        "far": (("h2", "10.0.0.2"),),
    }
    assert {p.project.stack: p.traefik_hosts for p in found} == {"both": ("h1",), "far": ()}
    assert warnings == []


def test_traefik_host_comes_from_state_then_config(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"proxy": ("h1",), "app": ("h2",)}, traefik_stack="proxy")
    # Traefik deployed on h2 (config not yet applied): app on h2 is its Docker provider's.
    assert where(placements(cfg, State({"proxy": ("h2",), "app": ("h2",)}), None, {}, [])) == {}
    # Traefik not deployed: its configured host counts.
    found = placements(cfg, State({"app": ("h1",)}), None, {}, [])
    assert where(found) == {}
    assert where(placements(cfg, State({"app": ("h2",)}), None, {}, [])) == {
        "app": (("h2", "10.0.0.2"),)
    }


def test_placement_comes_from_state_not_config(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"moved": ("h1",), "idle": ("h1",)})
    state = State({"moved": ("h3", "h2")})
    found = placements(cfg, state, None, {}, [])
    # `idle` is configured but not deployed: nothing runs, nothing is routed.
    assert where(found) == {"moved": (("h3", "10.0.0.3"), ("h2", "10.0.0.2"))}


def test_named_stacks_not_deployed_fall_back_to_their_config(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"a": ("h1",), "b": ("h2",), "c": ("h3",)})
    state = State({"a": ("h3",)})
    found = placements(cfg, state, ["a", "b"], {}, [])
    assert where(found) == {"a": (("h3", "10.0.0.3"),), "b": (("h2", "10.0.0.2"),)}


def test_unknown_stacks_and_hosts_in_state_are_ignored(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"a": ("h1",)})
    state = State({"a": ("h1", "gone"), "removed": ("h2",)})
    assert where(placements(cfg, state, None, {}, [])) == {"a": (("h1", "10.0.0.1"),)}


def test_a_stack_whose_compose_file_is_gone_is_skipped_with_a_warning(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"a": ("h1",), "b": ("h2",)})
    (tmp_path / "compose" / "b" / "compose.yaml").unlink()
    warnings: list[str] = []
    result = build(cfg, State({"a": ("h1",), "b": ("h2",)}), None, {})
    found = placements(cfg, State({"a": ("h1",), "b": ("h2",)}), None, {}, warnings)
    assert where(found) == {"a": (("h1", "10.0.0.1"),)}
    assert len(warnings) == 1
    assert warnings[0].startswith("stack b: skipped: ")
    assert result.warnings == warnings
    assert list(result.document["http"]["routers"]) == ["a"]


def test_build_reads_variables_from_the_environ_it_is_given(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"a": ("h1",)})
    (tmp_path / "compose" / "a" / "compose.yaml").write_text(
        LABELS.format(name="a").replace("18080", "${PORT:-1}")
    )
    result = build(cfg, State({"a": ("h1",)}), None, {"PORT": "18999"})
    servers = result.document["http"]["services"]["app-a"]["loadBalancer"]["servers"]
    assert servers == [{"url": "http://10.0.0.1:18999"}]


# --- docker_names: what Traefik's Docker provider defines ------------------------------

PROXY = """\
services:
  traefik:
    image: traefik
    ports: ["80:80"]
    labels:
      - traefik.http.routers.dashboard.rule=Host(`traefik.example.com`)
      - traefik.http.routers.dashboard.service=api@internal
      - traefik.http.routers.dashboard.middlewares=auth
      - traefik.http.middlewares.auth.basicauth.users=admin:$$apr1$$abcdefgh$$h9FWgUz3n9YxylKLlR5SQ/
      - traefik.tcp.middlewares.allow.ipallowlist.sourcerange=10.0.0.0/8
  whoami:
    image: whoami
    labels:
      - traefik.http.routers.whoami.rule=Host(`whoami.${DOMAIN}`)
  hidden:
    image: nginx
    labels:
      - traefik.enable=false
      - traefik.http.middlewares.off.compress=true
"""


def proxy_farm(tmp_path: Path) -> Config:
    """Traefik (stack proxy) on h1 with its own middlewares; stacks around it."""
    cfg = farm(
        tmp_path,
        {"proxy": ("h1",), "near": ("h1",), "far": ("h2",), "both": ("h1", "h3")},
        traefik_stack="proxy",
    )
    (tmp_path / "compose" / "proxy" / "compose.yaml").write_text(PROXY)
    return cfg


def test_docker_names_are_read_from_the_traefik_stacks_compose_file(tmp_path: Path) -> None:
    cfg = proxy_farm(tmp_path)
    state = State({"proxy": ("h1",), "far": ("h2",)})
    warnings: list[str] = []
    names = docker_names(cfg, state, None, {"DOMAIN": "example.com"}, warnings)
    assert names == {
        ("http", "routers", "dashboard"),
        ("http", "routers", "whoami"),
        ("http", "middlewares", "auth"),
        ("tcp", "middlewares", "allow"),
        # The Docker provider's implicit services: <compose service>-<project>.
        ("http", "services", "traefik-proxy"),
        ("http", "services", "whoami-proxy"),
    }
    assert warnings == []


def test_docker_names_include_stacks_on_traefik_hosts_only(tmp_path: Path) -> None:
    cfg = proxy_farm(tmp_path)
    state = State({"proxy": ("h1",), "near": ("h1",), "far": ("h2",), "both": ("h1", "h3")})
    names = docker_names(cfg, state, None, {}, [])
    # near (h1 only) is the Docker provider's; both (h1 + h3) and far are in the file.
    assert ("http", "routers", "near") in names
    assert ("http", "services", "app-near") in names
    assert not {n for n in names if n[2] in {"both", "far", "app-both", "app-far"}}
    # Routing only some stacks does not change what the Docker provider defines.
    assert docker_names(cfg, state, ["far"], {}, []) == names


def test_no_traefik_stack_means_no_docker_names(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"proxy": ("h1",), "app": ("h1",)})
    assert docker_names(cfg, State({"proxy": ("h1",), "app": ("h1",)}), None, {}, []) == set()


def test_an_unreadable_traefik_stack_leaves_references_as_written(tmp_path: Path) -> None:
    cfg = proxy_farm(tmp_path)
    (tmp_path / "compose" / "proxy" / "compose.yaml").unlink()
    warnings: list[str] = []
    assert docker_names(cfg, State({"proxy": ("h1",)}), None, {}, warnings) == set()
    assert len(warnings) == 1
    assert warnings[0].startswith("stack proxy: its labels cannot be read (")
    assert "left as written" in warnings[0]


def test_build_qualifies_references_and_outranks_the_docker_copy(tmp_path: Path) -> None:
    cfg = proxy_farm(tmp_path)
    for name in ("far", "both"):
        (tmp_path / "compose" / name / "compose.yaml").write_text(
            LABELS.format(name=name)
            + f"      - traefik.http.routers.{name}.middlewares=auth,auth2@docker\n"
        )
    state = State({"proxy": ("h1",), "near": ("h1",), "far": ("h2",), "both": ("h1", "h3")})
    result = build(cfg, state, None, {})
    routers = result.document["http"]["routers"]
    assert routers["far"] == {
        "middlewares": ["auth@docker", "auth2@docker"],
        "rule": "Host(`far.example.com`)",
        "service": "app-far",
    }
    rule = "Host(`both.example.com`)"
    assert routers["both"]["priority"] == len(rule) + 1
    assert routers["both"]["middlewares"] == ["auth@docker", "auth2@docker"]
    servers = result.document["http"]["services"]["app-both"]["loadBalancer"]["servers"]
    assert servers == [{"url": "http://10.0.0.1:18080"}, {"url": "http://10.0.0.3:18080"}]
    assert set(routers) == {"far", "both"}
    assert result.warnings == []


def test_a_priority_that_is_no_number_is_reported_not_raised() -> None:
    spec = {
        "stack": "web",
        "hosts": {"h1": "10.0.0.1", "h2": "10.0.0.2"},
        "compose": LABELS.format(name="app") + "      - traefik.http.routers.app.priority=high\n",
    }
    result = generate([placement(spec, ["h1"])])
    assert result.document["http"]["routers"]["app"]["priority"] == "high"
    assert_warnings(result.warnings, [["router app", "priority 'high' is not a number", "h1"]])


# --- write_if_changed ---------------------------------------------------------------

OLD = 1_000_000_000_000_000_000  # an mtime in 2001, in ns: any rewrite would move it


def test_write_if_changed_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.d" / "cf.yml"
    assert write_if_changed(path, "a: 1\n") is True
    assert path.read_text() == "a: 1\n"


def test_write_if_changed_leaves_an_identical_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "cf.yml"
    path.write_text("a: 1\n")
    os.utime(path, ns=(OLD, OLD))
    inode = path.stat().st_ino
    assert write_if_changed(path, "a: 1\n") is False
    assert path.stat().st_mtime_ns == OLD
    assert path.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["cf.yml"]  # no temp file left


def test_write_if_changed_replaces_a_changed_file_keeping_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "cf.yml"
    path.write_text("a: 1\n")
    path.chmod(0o640)
    os.utime(path, ns=(OLD, OLD))
    assert write_if_changed(path, "a: 2\n") is True
    assert path.read_text() == "a: 2\n"
    assert path.stat().st_mtime_ns != OLD
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["cf.yml"]


def test_regenerate_writes_traefik_file_only_when_its_text_changes(tmp_path: Path) -> None:
    path = tmp_path / "traefik" / "cf.yml"
    cfg = farm(tmp_path, {"a": ("h1",), "b": ("h2",)}, traefik_file=path)
    assert regenerate(cfg, State({"a": ("h1",)}), {}) == (True, [])
    assert list(yaml.safe_load(path.read_text())["http"]["routers"]) == ["a"]
    os.utime(path, ns=(OLD, OLD))
    assert regenerate(cfg, State({"a": ("h1",)}), {}) == (False, [])
    assert path.stat().st_mtime_ns == OLD
    assert regenerate(cfg, State({"a": ("h1",), "b": ("h2",)}), {}) == (True, [])
    assert list(yaml.safe_load(path.read_text())["http"]["routers"]) == ["a", "b"]
    assert regenerate(cfg, State(), {}) == (True, [])
    assert path.read_text() == HEADER + "{}\n"


def test_regenerate_without_traefik_file_does_nothing(tmp_path: Path) -> None:
    cfg = farm(tmp_path, {"a": ("h1",)})
    before = sorted(tmp_path.rglob("*"))
    assert regenerate(cfg, State({"a": ("h1",)}), {}) == (False, [])
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
