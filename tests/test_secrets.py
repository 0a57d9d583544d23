"""``Secrets``: which ``.env`` values cf hides, per stack, from a real folder on disk."""

from __future__ import annotations

from pathlib import Path

from compose_farm.config import Config, load_config
from compose_farm.secrets import Secrets


def farm(tmp_path: Path, env: str) -> Config:
    stack = tmp_path / "stacks" / "app"
    stack.mkdir(parents=True)
    (stack / "compose.yaml").write_text("services: {app: {image: x}}\n")
    (stack / ".env").write_text(env)
    config = tmp_path / "compose-farm.yaml"
    config.write_text(
        f"compose_dir: {tmp_path / 'stacks'}\nhosts: {{h1: 10.0.0.1}}\nstacks: {{app: h1}}\n"
    )
    return load_config(config)


def test_env_values_are_masked_for_their_stack_and_farm_wide(tmp_path: Path) -> None:
    secrets = Secrets(farm(tmp_path, "TOKEN=hunter2-token\nSHORT=abc\n"), {})
    assert secrets.mask("app", "token hunter2-token, short abc") == "token ***, short abc"
    assert secrets.mask(None, "hunter2-token") == "***"


def test_a_line_compose_rules_reject_here_does_not_unmask_the_others(tmp_path: Path) -> None:
    """``${HOME:?}`` needs an environment the masker does not pass: the values still count."""
    env = "TOKEN=\"hunter2-token\"\nDATA=${HOME:?set HOME}/data\nexport KEY='s3cr3t-key'\n"
    secrets = Secrets(farm(tmp_path, env), {})

    shown = secrets.mask("app", "uses hunter2-token and s3cr3t-key")

    assert shown == "uses *** and ***"
