"""Config loading: the normalised model, the search order, and every bad-input message."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.config import config_candidates, find_config, load_config
from compose_farm.errors import ConfigError
from tests.clihelp import run_cf

CASES: list[dict[str, Any]] = YAML(typ="safe").load(
    (Path(__file__).parent / "data" / "config_errors.yaml").read_text()
)

GOOD = """\
compose_dir: /opt/compose
hosts:
  nuc: 192.168.1.10
  hp: {address: 192.168.1.11, user: admin, port: 2222}
  here: localhost
stacks:
  plex: nuc
  dozzle: all
  web: [nuc, hp]
traefik_file: traefik/dynamic.yml
"""


def write(tmp_path: Path, text: str, name: str = "compose-farm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def make_case(tmp_path: Path, case: dict[str, Any]) -> Path:
    """The config file of a table case: its text, or no file, or a folder in its place."""
    if case.get("file") == "missing":
        return tmp_path / "compose-farm.yaml"
    if case.get("file") == "directory":
        path = tmp_path / "compose-farm.yaml"
        path.mkdir()
        return path
    return write(tmp_path, case["text"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_config_message(tmp_path: Path, case: dict[str, Any]) -> None:
    path = make_case(tmp_path, case)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    for word in case["expect"]:
        assert word in message, f"{word!r} missing from: {message}"
    assert caught.value.line == case["line"], message


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in CASES
        if c["name"]
        in {
            "unknown host in a stack",
            "yaml syntax error",
            "empty file",
            "missing file",
            "stack names YAML reads as a boolean and as null",
        }
    ],
    ids=lambda c: c["name"],
)
@pytest.mark.parametrize("command", [["config", "validate"], ["list"]])
def test_bad_config_through_the_cli(
    tmp_path: Path, case: dict[str, Any], command: list[str]
) -> None:
    path = make_case(tmp_path, case)
    result = run_cf(*command, "-c", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    for word in case["expect"]:
        assert word in result.stderr


def test_good_config_is_normalised(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.compose_dir == PurePosixPath("/opt/compose")
    assert cfg.hosts["nuc"].address == "192.168.1.10"
    assert cfg.hosts["nuc"].user is None and cfg.hosts["nuc"].port is None
    assert (cfg.hosts["hp"].user, cfg.hosts["hp"].port) == ("admin", 2222)
    assert cfg.hosts["here"].is_local and not cfg.hosts["nuc"].is_local
    assert cfg.stacks["plex"].hosts == ("nuc",)
    assert cfg.stacks["dozzle"].hosts == ("nuc", "hp", "here")
    assert cfg.stacks["dozzle"].all_hosts and cfg.stacks["dozzle"].multi_host
    assert cfg.stacks["web"].hosts == ("nuc", "hp") and not cfg.stacks["web"].all_hosts
    assert cfg.stacks_on("hp") == ["dozzle", "web"]
    assert cfg.traefik_file == tmp_path.resolve() / "traefik" / "dynamic.yml"
    assert cfg.state_path == tmp_path.resolve() / "compose-farm-state.yaml"


def test_services_is_an_alias_for_stacks(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.replace("stacks:", "services:")))
    assert set(cfg.stacks) == {"plex", "dozzle", "web"}


def test_state_lives_beside_the_resolved_config(tmp_path: Path) -> None:
    real = write(tmp_path, GOOD)
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "compose-farm.yaml"
    link.symlink_to(real)
    assert load_config(link).state_path == tmp_path.resolve() / "compose-farm-state.yaml"


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg), "HOME": str(tmp_path)}
    in_xdg = xdg / "compose-farm" / "compose-farm.yaml"
    assert config_candidates(None, env) == [tmp_path / "compose-farm.yaml", in_xdg]
    with pytest.raises(ConfigError, match="no config file found"):
        find_config(None, env)
    in_xdg.parent.mkdir(parents=True)
    in_xdg.write_text(GOOD)
    assert find_config(None, env) == in_xdg
    write(tmp_path, GOOD)
    assert find_config(None, env) == tmp_path / "compose-farm.yaml"
    assert find_config(None, {**env, "CF_CONFIG": "/x/cf.yaml"}) == Path("/x/cf.yaml")
    assert find_config("/y/explicit.yaml", {**env, "CF_CONFIG": "/x"}) == Path("/y/explicit.yaml")


def test_every_shorthand_reads_as_its_long_form(tmp_path: Path) -> None:
    short = """\
compose_dir: /opt/compose
hosts: {nuc: 10.0.0.1, hp: 10.0.0.2}
hooks: {before_up: "echo farm", after_up: }
stacks:
  plex: nuc
  web: [nuc, hp]
  db:
    hosts: hp
    hooks: {after_down: {run: ./bye.sh, on: local}}
"""
    long = """\
compose_dir: /opt/compose
hosts:
  nuc: {address: 10.0.0.1}
  hp: {address: 10.0.0.2}
hooks:
  before_up: [{run: "echo farm"}]
stacks:
  plex: {hosts: nuc, hooks: {}}
  web: {hosts: [nuc, hp]}
  db:
    hosts: hp
    hooks: {after_down: [{run: ./bye.sh, on: local}]}
"""
    short_cfg = load_config(write(tmp_path, short, "short.yaml"))
    long_cfg = load_config(write(tmp_path, long, "long.yaml"))
    assert short_cfg.model_dump(exclude={"path"}) == long_cfg.model_dump(exclude={"path"})
    assert list(short_cfg.stacks["db"].hooks) == ["before_up", "after_down"]
    assert short_cfg.stacks["plex"].hooks["before_up"][0].run == "echo farm"
