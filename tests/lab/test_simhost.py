"""The ``docker`` stand-in of the simulated hosts answers what cf asks as Docker would.

It runs here in-process over a temporary engine folder (no lab needed); cf's
own parser (``facts.parse_ps``, ``assign_stacks``) reads its answers, so a
change of the ``docker ps`` format cf asks for that the stand-in does not
follow fails here, not in a benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compose_farm.facts import assign_stacks, parse_ps, ps_command
from tests.lab.simhost.engine import LATENCY, UNSUPPORTED
from tests.lab.simhost.main import run
from tests.support.config import make_config

COMPOSE = """\
services:
  web:
    image: "busybox:1"   # a comment
    ports: ["8080:80", "127.0.0.1:9000:9000/udp"]
  db:
    image: postgres:16
    container_name: the-db
    ports:
      - 5432
"""


class Host:
    """One simulated host's engine in ``folder``, commands run in a stack folder."""

    def __init__(self, folder: Path, latency: dict[str, float] | None = None) -> None:
        self.engine = folder / "engine"
        self.latency = folder / "latency.json"
        self.latency.write_text(json.dumps(latency or {"scale": 0}))

    def docker(self, *argv: str, cwd: Path | None = None) -> tuple[int, str, str, float]:
        environ = {"CFLAB_SIM_ENGINE": str(self.engine), "CFLAB_SIM_LATENCY": str(self.latency)}
        status, out, err, seconds = run(list(argv), environ, str(cwd or "/"))
        return status, "\n".join(out), "\n".join(err), seconds

    def ps(self) -> str:
        status, out, err, _ = self.docker(*ps_command().argv[1:])
        assert status == 0, err
        return out


def stack(tmp_path: Path, name: str, text: str = COMPOSE) -> Path:
    folder = tmp_path / "stacks" / name
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text(text)
    return folder


def test_up_shows_in_docker_ps_as_cf_reads_it_and_down_removes_it(tmp_path: Path) -> None:
    host, folder = Host(tmp_path), stack(tmp_path, "shop")
    config = make_config(tmp_path, compose_dir=tmp_path / "stacks", stacks={"shop": "h1"})
    status, _, err, _ = host.docker("compose", "up", "-d", cwd=folder)
    assert status == 0 and " Container shop-web-1  Started" in err.splitlines()

    found = parse_ps("h1", host.ps())
    assert {(c.project, c.service, c.name, c.state) for c in found} == {
        ("shop", "web", "shop-web-1", "running"),
        ("shop", "db", "the-db", "running"),
    }
    assert all(c.working_dir == str(folder) and len(c.id) == 64 for c in found)
    web = next(c for c in found if c.service == "web")
    assert web.ports == "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 127.0.0.1:9000->9000/udp"
    assert set(assign_stacks(config, found).values()) == {"shop"}

    assert host.docker("compose", "up", "-d", cwd=folder)[2].count("Running") == 2
    assert host.docker("compose", "down", cwd=folder)[0] == 0
    assert host.ps() == ""


def test_a_compose_name_is_the_project_and_the_folder_still_names_the_stack(
    tmp_path: Path,
) -> None:
    host, folder = Host(tmp_path), stack(tmp_path, "Media", "name: tv\n" + COMPOSE)
    config = make_config(tmp_path, compose_dir=tmp_path / "stacks", stacks={"Media": "h1"})
    host.docker("compose", "up", "-d", "web", cwd=folder)
    (web,) = parse_ps("h1", host.ps())
    assert (web.project, web.name) == ("tv", "tv-web-1")
    assert assign_stacks(config, [web]) == {("h1", web.id): "Media"}
    # cf stops an orphan by project name, with no compose folder to stand in.
    assert host.docker("compose", "--project-name", "tv", "down")[0] == 0
    assert host.ps() == ""


def test_stopped_containers_are_listed_with_docker_s_status(tmp_path: Path) -> None:
    host, folder = Host(tmp_path), stack(tmp_path, "shop")
    host.docker("compose", "up", "-d", cwd=folder)
    host.docker("compose", "stop", "db", cwd=folder)
    states = {c.service: c for c in parse_ps("h1", host.ps())}
    assert states["db"].state == "exited" and states["db"].crashed
    assert states["db"].status.startswith("Exited (137) ") and states["db"].ports == ""
    assert states["web"].status == "Up Less than a second"
    assert host.docker("ps", "-q")[1].split() == [states["web"].id[:12]]


def test_json_is_go_s_json(tmp_path: Path) -> None:
    host, folder = Host(tmp_path), stack(tmp_path, "shop", COMPOSE.replace("busybox:1", "a&b<c>"))
    host.docker("compose", "up", "-d", "web", cwd=folder)
    _, out, _, _ = host.docker("ps", "--format", "{{json .Image}}")
    assert out == '"a\\u0026b\\u003cc\\u003e"'


def test_each_command_takes_its_configured_time(tmp_path: Path) -> None:
    host = Host(tmp_path, {"up": 0.7, "up_noop": 0.2, "ps": 0.01, "ps_per_container": 0.001})
    folder = stack(tmp_path, "shop")
    assert host.docker("compose", "up", "-d", cwd=folder)[3] == pytest.approx(0.7)
    assert host.docker("compose", "up", "-d", cwd=folder)[3] == pytest.approx(0.2)
    assert host.docker("ps")[3] == pytest.approx(0.012)
    assert host.docker("compose", "down", cwd=folder)[3] == LATENCY["down"]


@pytest.mark.parametrize(
    "argv",
    [
        ("images",),
        ("compose", "up"),  # without -d
        ("compose", "-f", "other.yaml", "up", "-d"),
        ("compose", "up", "-d", "--build"),
        ("ps", "--format", "{{.Mounts}}"),
        ("ps", "--filter", "health=healthy"),
    ],
)
def test_what_it_does_not_simulate_fails_loudly(tmp_path: Path, argv: tuple[str, ...]) -> None:
    status, _, err, _ = Host(tmp_path).docker(*argv, cwd=stack(tmp_path, "shop"))
    assert status == UNSUPPORTED and "not simulated" in err


def test_a_folder_without_a_compose_file_is_compose_s_error(tmp_path: Path) -> None:
    status, _, err, _ = Host(tmp_path).docker("compose", "up", "-d", cwd=tmp_path)
    assert (status, err) == (1, "no configuration file provided: not found")
