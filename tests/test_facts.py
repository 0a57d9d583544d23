"""Parsing `docker ps` answers and telling which stack each container belongs to."""

from __future__ import annotations

import json
from pathlib import Path

from compose_farm.facts import Container, Facts, HostFacts, assign_stacks, parse_ps
from tests.support.config import make_config


def row(project: str, workdir: str, state: str = "running", cid: str = "c1") -> str:
    return json.dumps(
        [cid, project, "web", workdir, f"{project}-web-1", "img:1", state, "Up", "", "hash1"]
    )


def test_parse_ps_skips_noise() -> None:
    text = "\n".join([row("plex", "/opt/compose/plex"), "garbage", "[1,2]", ""])
    containers = parse_ps("h1", text)
    assert len(containers) == 1
    assert containers[0].project == "plex" and containers[0].host == "h1"


def test_stack_is_found_by_folder_even_with_a_custom_project_name(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, hosts=("h1", "h2"), stacks={"plex": "h1", "Media": "h2"})
    containers = parse_ps(
        "h1",
        "\n".join(
            [
                row("custom-name", "/opt/compose/plex", cid="a"),
                row("media", "/elsewhere/media", cid="b"),
                row("stranger", "/srv/stranger", cid="c"),
                row("plex", "/opt/compose/plex", state="exited", cid="d"),
            ]
        ),
    )
    owners = assign_stacks(cfg, containers)
    assert owners == {("h1", "a"): "plex", ("h1", "b"): "Media", ("h1", "d"): "plex"}
    facts = Facts(
        {"h1": HostFacts("h1", tuple(containers)), "h2": HostFacts("h2", error="down")}, owners
    )
    assert facts.running_hosts("plex") == ("h1",)
    assert facts.stacks_running() == {"Media": ("h1",), "plex": ("h1",)}
    assert facts.unreachable() == {"h2": "down"}
    assert not Container("h1", "x", "p", "s", "", "n", "i", "exited", "", "").running
