"""What the preflight asks of a host, from the compose project as Compose reads it.

A missing short-syntax bind source never blocks a start (Compose creates it);
``cf check`` gets it as a ``created`` note. External networks that no active
service joins are not required.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from compose_farm.config import load_config
from compose_farm.operations.preflight import (
    Requirements,
    check_script,
    parse_missing,
    parse_report,
    preflight_script,
    requirements,
)

COMPOSE = """\
services:
  app:
    image: busybox
    volumes:
      - ./short:/a
      - {type: bind, source: ./long, target: /b}
      - {type: bind, source: ./made, target: /c, bind: {create_host_path: true}}
    devices: [/dev/null, "nvidia.com/gpu=all", ""]
    networks: [used]
  off:
    image: busybox
    profiles: [later]
    volumes: [/nowhere/off:/x]
    networks: [unused_by_active]
networks:
  used: {external: true, name: real-used}
  unused_by_active: {external: true}
  never: {external: true}
"""


def farm(tmp_path: Path) -> Path:
    stack = tmp_path / "stacks" / "web"
    stack.mkdir(parents=True)
    (stack / "compose.yaml").write_text(COMPOSE, encoding="utf-8")
    config = tmp_path / "compose-farm.yaml"
    config.write_text(
        f"compose_dir: {tmp_path / 'stacks'}\nhosts: {{here: localhost}}\nstacks: {{web: here}}\n",
        encoding="utf-8",
    )
    return config


def test_requirements_follow_composes_reading(tmp_path: Path) -> None:
    config = load_config(farm(tmp_path))
    stack = tmp_path / "stacks" / "web"

    needs = requirements(config, "web", {"HOME": str(tmp_path)})

    assert needs == Requirements(
        mounts=(str(stack / "long"),),
        devices=("/dev/null",),
        networks=("real-used",),
        created=(str(stack / "short"), str(stack / "made")),
    )


def run(script_shell: str) -> str:
    return subprocess.run(
        ["sh", "-c", script_shell], capture_output=True, text=True, check=False
    ).stdout


def test_a_missing_created_source_is_a_note_for_check_and_nothing_for_a_start(
    tmp_path: Path,
) -> None:
    stack = PurePosixPath(str(tmp_path))
    (tmp_path / "compose.yaml").touch()
    needs = Requirements(mounts=(str(stack / "long"),), created=(str(stack / "short"),))

    report = parse_report(run(check_script([(stack, needs)]).shell()))[str(stack)]
    start = run(preflight_script(stack, needs).shell())

    assert [(m.kind, m.value) for m in report] == [
        ("mount", str(stack / "long")),
        ("created", str(stack / "short")),
    ]
    assert "Compose will create it" in str(report[1])
    assert [(m.kind, m.value) for m in parse_missing(start)] == [("mount", str(stack / "long"))]
    assert "short" not in start
