"""Page data built from a hand-made snapshot (``web/views.py``), pure: no host, no app."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compose_farm.compose import DotEnv, build_project
from compose_farm.config import load_config
from compose_farm.drift import HostDetails, Project
from compose_farm.facts import Container, Facts, HostFacts
from compose_farm.state import State
from compose_farm.web.farm import Snapshot
from compose_farm.web.views import PaletteContainer, dashboard, palette_containers, stack_links
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


# --- the stack page's site links ---------------------------------------------------------

LINK_CASES = [
    # (labels of one service, the links)
    pytest.param(["traefik.http.routers.r.rule=Host(`a.test`)"], ["http://a.test"], id="no-tls"),
    pytest.param(
        ["traefik.http.routers.r.rule=Host(`a.test`)", "traefik.http.routers.r.entrypoints=web"],
        ["http://a.test"],
        id="only-on-web",
    ),
    pytest.param(
        ["traefik.http.routers.r.rule=Host(`a.test`)", "traefik.http.routers.r.tls=true"],
        ["https://a.test"],
        id="tls-true",
    ),
    pytest.param(
        [
            "traefik.http.routers.r.rule=Host(`a.test`)",
            "traefik.http.routers.r.tls.certresolver=le",
        ],
        ["https://a.test"],
        id="tls-options",
    ),
    pytest.param(
        ["traefik.http.routers.r.rule=Host(`a.test`)", "traefik.http.routers.r.tls=false"],
        ["http://a.test"],
        id="tls-false",
    ),
    pytest.param(
        [
            "traefik.http.routers.r.rule=Host(`a.test`)",
            "traefik.http.routers.r.entrypoints=websecure",
        ],
        ["https://a.test"],
        id="only-on-websecure",
    ),
    pytest.param(
        [
            "traefik.http.routers.r.rule=Host(`a.test`)",
            "traefik.http.routers.r.entrypoints=web,websecure",
        ],
        ["http://a.test"],
        id="on-web-and-websecure",
    ),
    pytest.param(
        [
            "traefik.http.routers.plain.rule=Host(`a.test`) || Host(`b.test`)",
            "traefik.http.routers.plain.entrypoints=web",
            "traefik.http.routers.secure.rule=Host(`a.test`) && PathPrefix(`/x`)",
            "traefik.http.routers.secure.tls=true",
        ],
        ["https://a.test", "http://b.test"],
        id="one-link-per-host-https-if-any-router-is",
    ),
    pytest.param(
        ["traefik.enable=false", "traefik.http.routers.r.rule=Host(`a.test`)"],
        [],
        id="enable-false",
    ),
    pytest.param(
        ["traefik.enable=no", "traefik.http.routers.r.rule=Host(`a.test`)"],
        [],
        id="enable-value-traefik-skips",
    ),
    pytest.param(["TRAEFIK.http.routers.r.rule=Host(`a.test`)"], [], id="upper-case-root"),
    pytest.param(
        ["traefik.HTTP.Routers.r.Rule=Host(`a.test`)", "traefik.http.routers.R.TLS=true"],
        ["https://a.test"],
        id="case-below-the-root",
    ),
    pytest.param(["traefik.tcp.routers.r.rule=HostSNI(`a.test`)"], [], id="tcp-router"),
]


@pytest.mark.parametrize(("labels", "links"), LINK_CASES)
def test_stack_links(labels: list[str], links: list[str]) -> None:
    text = yaml.safe_dump({"services": {"app": {"image": "busybox", "labels": labels}}})
    project = build_project(
        stack="web", path=Path("/c/web/compose.yaml"), text=text, dotenv=DotEnv(), environ={}
    )

    assert stack_links(project) == links


def test_stack_links_come_from_every_service_but_the_disabled_ones() -> None:
    text = yaml.safe_dump(
        {
            "services": {
                "site": {"image": "a", "labels": ["traefik.http.routers.s.rule=Host(`s.test`)"]},
                "off": {
                    "image": "b",
                    "labels": [
                        "traefik.enable=false",
                        "traefik.http.routers.o.rule=Host(`o.test`)",
                    ],
                },
                "api": {"image": "c", "labels": {"traefik.http.routers.a.rule": "Host(`a.test`)"}},
            }
        }
    )
    project = build_project(
        stack="web", path=Path("/c/web/compose.yaml"), text=text, dotenv=DotEnv(), environ={}
    )

    assert stack_links(project) == ["http://a.test", "http://s.test"]


def test_the_dashboards_pending_changes_name_a_drifted_service_never_a_value(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, {"web": COMPOSE}))
    cid = "a" * 64
    app = Container("h1", cid, "web", "app", "", "web-app-1", "busybox", "running", "Up", "", "x")
    now = Project({"app": "y"}, {"app": {"image": "busybox", "environment": {"PW": "s3cret"}}})
    details = HostDetails({"web": now}, env={cid: ("PW=old",)}, image_of={cid: "sha256:i"})
    facts = Facts({"h1": HostFacts("h1", (app,), details=details)}, {("h1", cid): "web"})
    board = dashboard(Snapshot(config, State({"web": ("h1",)}), facts, 0.0), mask)

    [section] = [s for s in board.plan if s.title.startswith("Update")]
    assert section.lines == ("web on h1: app: environment: PW changed",)
    assert board.pending == 1


def test_update_badges_come_from_the_last_check_of_the_image_still_running(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, {"web": COMPOSE, "db": COMPOSE}))
    a, b = "a" * 64, "b" * 64
    web = Container("h1", a, "web", "app", "", "web-app-1", "me/app:1", "running", "Up", "")
    db = Container("h1", b, "db", "pg", "", "db-pg-1", "postgres:17", "running", "Up", "")
    facts = Facts({"h1": HostFacts("h1", (web, db))}, {("h1", a): "web", ("h1", b): "db"})
    checks = (
        {
            "stack": "web",
            "host": "h1",
            "service": "app",
            "image": "me/app:1",
            "status": "update available",
        },
        # checked on postgres:16; the container now runs postgres:17: says nothing of it
        {
            "stack": "db",
            "host": "h1",
            "service": "pg",
            "image": "postgres:16",
            "status": "update available",
        },
    )
    snap = Snapshot(config, State({"web": ("h1",), "db": ("h1",)}), facts, 0.0, checks)
    board = dashboard(snap, mask)
    rows = {r.name: r for r in board.stacks_by_host["h1"]}
    assert rows["web"].outdated == ("h1",) and rows["db"].outdated == ()


def placed(tmp_path: Path, hosts: dict[str, object]) -> Snapshot:
    """A config of stacks -> hosts over h1..h3, with no facts or state yet (see ``here``)."""
    path = write_config(tmp_path, dict.fromkeys(hosts, COMPOSE))
    data = yaml.safe_load(path.read_text())
    data["stacks"] = hosts
    path.write_text(yaml.safe_dump(data))
    return Snapshot(load_config(path), State(), Facts({}), 0.0)


def here(snap: Snapshot) -> dict[str, dict[str, tuple[str, str]]]:
    """host -> {stack: (what its card shows, the note)}."""
    board = dashboard(snap, lambda _stack, text: text)
    return {h: {r.name: (r.here, r.note) for r in rows} for h, rows in board.stacks_by_host.items()}


def test_the_dashboard_shows_where_a_stack_runs_during_a_move_not_only_where_it_should(
    tmp_path: Path,
) -> None:
    base = placed(tmp_path, {"app": "h2", "pair": ["h1", "h2"]})
    ids = {n: f"{n:x}" * 64 for n in range(1, 5)}
    # app moved to h2 in the config, still serving on h1 (a pending or a failed move)
    facts = Facts(
        {
            "h1": HostFacts("h1", (container("h1", ids[1], "app", "app", "app-app-1"),)),
            "h2": HostFacts("h2", (container("h2", ids[2], "pair", "app", "pair-app-1"),)),
            "h3": HostFacts("h3", ()),
        },
        {("h1", ids[1]): "app", ("h2", ids[2]): "pair"},
    )
    snap = Snapshot(base.config, State({"app": ("h1",), "pair": ("h1", "h2")}), facts, 0.0)

    assert here(snap) == {
        "h1": {
            "app": ("leaving", "runs here; configured on h2"),
            "pair": ("stopped", ""),
        },
        "h2": {
            "app": ("pending", "not started here yet; runs on h1"),
            "pair": ("running", ""),
        },
        "h3": {},
    }


def test_a_multi_host_stack_on_an_unreachable_host_is_unknown_there_never_stopped(
    tmp_path: Path,
) -> None:
    base = placed(tmp_path, {"pair": ["h1", "h2"]})
    cid = "a" * 64
    facts = Facts(
        {
            "h1": HostFacts("h1", (container("h1", cid, "pair", "app", "pair-app-1"),)),
            "h2": HostFacts("h2", error="connection refused"),
            "h3": HostFacts("h3", ()),
        },
        {("h1", cid): "pair"},
    )
    snap = Snapshot(base.config, State({"pair": ("h1", "h2")}), facts, 0.0)

    assert here(snap)["h1"] == {"pair": ("running", "")}
    assert here(snap)["h2"] == {"pair": ("unknown", "host unreachable")}
    html_status = {r.name: r.status for r in dashboard(snap, mask).stacks_by_host["h2"]}
    assert html_status == {"pair": "partial"}


def test_a_running_orphan_shows_on_its_host_with_no_actions(tmp_path: Path) -> None:
    base = placed(tmp_path, {"app": "h1"})
    compose_dir = base.config.compose_dir
    ids = {n: f"{n:x}" * 64 for n in range(1, 4)}
    gone = Container(
        "h2",
        ids[1],
        "old",
        "web",
        f"{compose_dir}/old",
        "old-web-1",
        "busybox",
        "running",
        "Up",
        "",
    )
    # a folder of compose_dir no config or state of this farm names: maybe another
    # farm's (a shared folder), not this dashboard's to show
    unknown = Container(
        "h3", ids[2], "manual", "x", f"{compose_dir}/manual", "m-1", "busybox", "running", "Up", ""
    )
    elsewhere = Container(
        "h3", ids[3], "other", "x", "/srv/other", "o-1", "busybox", "running", "Up", ""
    )
    facts = Facts(
        {
            "h1": HostFacts("h1", ()),
            "h2": HostFacts("h2", (gone,)),
            "h3": HostFacts("h3", (unknown, elsewhere)),
        },
        {("h2", ids[1]): "old", ("h3", ids[2]): "manual"},  # as assign_stacks finds them
    )
    state = State({"old": ("h2",), "retired": ("h1",)})
    snap = Snapshot(base.config, state, facts, 0.0)

    board = dashboard(snap, mask)

    assert here(snap) == {
        "h1": {
            "app": ("stopped", ""),
            "retired": ("orphan", "recorded here, not in the config: cf apply forgets it"),
        },
        "h2": {"old": ("orphan", "running, not in the config: cf apply stops it")},
        "h3": {},
    }
    assert all(r.orphan for r in board.stacks_by_host["h2"])
    assert [r.orphan for r in board.stacks_by_host["h1"]] == [False, True]
