"""Config drift (drift.py): parsing what a host's program printed, and comparing a
stack's containers with what Compose makes of its folder now. Pure; the program
itself runs on the lab in tests/e2e/test_drift.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from compose_farm.drift import REMOVED, HostDetails, Project, Running, compare, normal_reference
from compose_farm.drift import parse as parse_details


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _record(stack: str, rc: int, hashes: str, config: Any, err: str = "") -> list[str]:
    return [
        f"stack {stack} {rc}",
        *(f"hash {line}" for line in hashes.splitlines()),
        f"json {_b64(json.dumps(config, indent=2))}",
        f"err {_b64(err)}",
    ]


def test_the_program_output_is_read_section_by_section() -> None:
    config = {"name": "web", "services": {"app": {"image": "nginx", "environment": {"A": "1"}}}}
    lines = [
        *_record("web", 0, "app 111\n", config),
        *_record("broken", 1, "", {}, "line 1\nservice x: image must be a string\n"),
        "--- env",
        '"c1" "sha256:i1" ["A=1","PATH=/bin"] "False"',
        '"c2" "sha256:i1" null "True"',
        "garbage",
        "--- image-env",
        '"sha256:i1" ["PATH=/bin"]',
        "--- tags",
        '"nginx" "latest" "sha256:i1"',
        '"<none>" "<none>" "sha256:dangling"',
    ]
    details = parse_details("\n".join(lines) + "\n")
    assert details.projects["web"].hashes == {"app": "111"}
    assert details.projects["web"].services["app"]["image"] == "nginx"
    assert details.projects["broken"].error == "service x: image must be a string"
    assert details.env == {"c1": ("A=1", "PATH=/bin"), "c2": ()}
    assert details.oneoff == frozenset({"c2"})
    assert details.image_env == {"sha256:i1": ("PATH=/bin",)}
    assert details.tags == {"nginx:latest": "sha256:i1"}


def test_unreadable_pieces_are_skipped_not_fatal() -> None:
    details = parse_details("stack s 0\nhash app 1\njson %%%\nerr \n--- env\n[1,2]\n")
    assert details.projects["s"].error is not None  # unreadable config: said, not guessed
    assert details.env == {}


def test_kept_hashes_come_without_a_config() -> None:
    details = parse_details("stack s 0\nhash app 111\nhash db 222\nerr \n")
    project = details.projects["s"]
    assert project.hashes == {"app": "111", "db": "222"} and not project.resolved
    # with no config, only the hashes and the container's own reference are compared
    found = compare("s", "h1", [Running("c1", "app", "111", True, "x:1")], details)
    assert found is not None and [d.service for d in found.services] == ["db"]


def _details(**services: dict[str, Any]) -> HostDetails:
    hashes = {name: f"h-{name}" for name in services}
    return HostDetails(
        projects={"web": Project(hashes, services)},
        env={"c1": ("A=1", "PATH=/bin"), "c2": ("B=2",)},
        image_of={"c1": "sha256:old", "c2": "sha256:db"},
        image_env={"sha256:old": ("PATH=/bin",)},
        tags={"nginx:1.27": "sha256:old"},
    )


APP = {"image": "nginx:1.27", "environment": {"A": "1"}}


def _app(config_hash: str = "h-app", cid: str = "c1") -> Running:
    return Running(cid, "app", config_hash, True)


def test_matching_containers_are_no_drift() -> None:
    assert compare("web", "h1", [_app()], _details(app=APP)) is None


def test_a_changed_hash_is_drift_of_that_service_only() -> None:
    db = {"image": "postgres", "environment": {"B": "2"}}
    found = compare(
        "web", "h1", [_app("stale"), Running("c2", "db", "h-db", True)], _details(app=APP, db=db)
    )
    assert found is not None and found.recreate == ("app",)
    assert "configuration changed" in found.services[0].changes[0]


def test_an_env_file_edit_the_hash_misses_names_the_variable_not_its_value() -> None:
    secret = {"image": "nginx:1.27", "environment": {"A": "s3cret-value", "NEW": "x"}}
    found = compare("web", "h1", [_app("stale")], _details(app=secret))
    assert found is not None
    [line] = found.services[0].changes
    assert line == "environment: A changed, NEW added"
    assert "s3cret" not in found.services[0].describe()


def test_a_variable_removed_from_the_project_but_set_by_the_image_is_not_drift() -> None:
    only_path = {"image": "nginx:1.27", "environment": {}}
    found = compare("web", "h1", [_app("stale")], _details(app=only_path))
    assert found is not None
    assert found.services[0].changes == ("environment: A removed",)  # PATH is the image's


def test_passed_through_variables_are_not_compared() -> None:
    through = {"image": "nginx:1.27", "environment": {"A": "1", "HOME_DIR": None}}
    found = compare("web", "h1", [_app("stale")], _details(app=through))
    assert found is not None
    assert found.services[0].changes == ("configuration changed (compose file, .env or variables)",)


def test_the_environment_is_only_a_detail_of_a_changed_hash() -> None:
    differs = {"image": "nginx:1.27", "environment": {"A": "2"}}
    assert compare("web", "h1", [_app()], _details(app=differs)) is None  # Compose: same


def test_a_changed_image_reference_is_named() -> None:
    newer = {"image": "nginx:1.28", "environment": {"A": "1"}}
    was = Running("c1", "app", "stale", True, "nginx:1.27")
    found = compare("web", "h1", [was], _details(app=newer))
    assert found is not None and found.services[0].changes == ("image nginx:1.27 -> nginx:1.28",)


def test_an_image_pulled_under_the_same_tag_is_drift() -> None:
    details = _details(app=APP)
    newer = HostDetails(
        details.projects,
        details.env,
        details.image_of,
        image_env=details.image_env,
        tags={"nginx:1.27": "sha256:new"},
    )
    found = compare("web", "h1", [_app()], newer)
    assert found is not None
    assert found.services[0].changes == ("a newer nginx:1.27 is on the host, not yet running",)


def test_added_and_removed_services() -> None:
    extra = {"image": "redis"}
    found = compare(
        "web", "h1", [_app(), Running("c9", "gone", "h-gone", True)], _details(app=APP, cache=extra)
    )
    assert found is not None
    assert [(s.service, s.changes) for s in found.services] == [
        ("cache", ("not created",)),
        ("gone", (REMOVED,)),
    ]
    assert found.recreate == ("cache",) and found.orphans


def test_scale_set_in_the_project_is_compared() -> None:
    scaled = {**APP, "scale": 2}
    found = compare("web", "h1", [_app()], _details(app=scaled))
    assert found is not None and "1 containers, scale says 2" in found.services[0].changes


def test_one_off_containers_and_unknown_env_are_left_out() -> None:
    details = _details(app=APP)
    run = HostDetails(details.projects, {}, {}, oneoff=frozenset({"c1"}))
    assert compare("web", "h1", [_app("whatever")], run) is None  # only a `compose run`
    blind = HostDetails(details.projects)  # inspect failed: env and image unknown
    assert compare("web", "h1", [_app()], blind) is None


def test_a_project_compose_cannot_read_is_reported_not_recreated() -> None:
    broken = HostDetails(projects={"web": Project(error="yaml: line 3: bad")})
    found = compare("web", "h1", [_app()], broken)
    assert found is not None and found.error == "yaml: line 3: bad" and found.recreate == ()


@pytest.mark.parametrize(
    ("image", "listed"),
    [
        ("nginx", "nginx:latest"),
        ("nginx:1.27", "nginx:1.27"),
        ("docker.io/library/nginx:1.27", "nginx:1.27"),
        ("docker.io/me/app", "me/app:latest"),
        ("registry.lan:5000/app", "registry.lan:5000/app:latest"),
        ("registry.lan:5000/app:2", "registry.lan:5000/app:2"),
        ("nginx@sha256:abc", "nginx@sha256:abc"),
    ],
)
def test_references_are_written_as_docker_images_lists_them(image: str, listed: str) -> None:
    assert normal_reference(image) == listed
