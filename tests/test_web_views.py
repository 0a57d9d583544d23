"""Page data built from a hand-made snapshot (``web/views.py``), pure: no host, no app."""

from __future__ import annotations

from pathlib import Path

from compose_farm.config import load_config
from compose_farm.facts import Container, Facts, HostFacts
from compose_farm.state import State
from compose_farm.web.farm import Snapshot
from compose_farm.web.views import PaletteContainer, palette_containers
from tests.support.web import write_config

COMPOSE = "services:\n  app:\n    image: busybox\n"


def container(host: str, cid: str, project: str, service: str, name: str) -> Container:
    return Container(host, cid, project, service, "", name, "busybox", "running", "Up", "")


def mask(stack: str | None, text: str) -> str:
    """What the farm's masking does to a stack's text: its .env value hidden."""
    return text.replace("s3cret", "***") if stack == "db" else text


def test_the_palette_lists_every_configured_stacks_containers_by_id_with_names_masked(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, {"web": COMPOSE, "db": COMPOSE}))
    ids = {n: f"{n:x}" * 64 for n in range(1, 6)}
    on_h1 = (
        container("h1", ids[1], "web", "app", "web-app-1"),
        container("h1", ids[2], "db", "pg", "db-s3cret"),
        container("h1", ids[3], "stray", "x", "stray-x-1"),  # not in the config
    )
    on_h2 = (
        container("h2", ids[4], "web", "app", "web-app-1"),
        container("h2", ids[5], "web", "app", "web-app-2"),
    )
    owners = {("h1", ids[1]): "web", ("h1", ids[2]): "db", ("h1", ids[3]): "stray"}
    owners |= {("h2", ids[4]): "web", ("h2", ids[5]): "web"}
    facts = Facts(
        {
            "h1": HostFacts("h1", on_h1),
            "h2": HostFacts("h2", on_h2),
            "h3": HostFacts("h3", error="down"),
        },
        owners,
    )
    snap = Snapshot(config, State(), facts, 0.0)

    found = palette_containers(snap, mask)

    assert found == [
        PaletteContainer("db", "pg", "h1", ids[2], "db-***"),
        PaletteContainer("web", "app", "h1", ids[1], "web-app-1"),
        PaletteContainer("web", "app", "h2", ids[4], "web-app-1"),
        PaletteContainer("web", "app", "h2", ids[5], "web-app-2"),
    ]
