"""``Secrets``: which ``.env`` values cf hides, per stack, from a real folder on disk:
the current ``.env`` and every backup of it the editors kept."""

from __future__ import annotations

from pathlib import Path

from compose_farm.backups import Backups
from compose_farm.config import Config
from compose_farm.secrets import Secrets
from tests.support.config import make_config


def farm(tmp_path: Path, env: str) -> Config:
    config = make_config(tmp_path, compose={"app": "services: {app: {image: x}}\n"})
    (tmp_path / "stacks" / "app" / ".env").write_text(env)
    return config


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


def edit(env: Path, backups: Backups, text: str) -> None:
    """What the editor does on a save: keep the old ``.env``, write the new one."""
    backups.keep("app", env)
    env.write_text(text)


def test_values_of_every_kept_env_backup_stay_masked(tmp_path: Path) -> None:
    """A container started before an edit still runs with the old password."""
    config = farm(tmp_path, "SECRET=first-password\n")
    env = tmp_path / "stacks" / "app" / ".env"
    backups = Backups(tmp_path / "backups")
    edit(env, backups, "SECRET=second-password\n")
    edit(env, backups, "SECRET=third-password\n")

    secrets = Secrets(config, {}, backups)

    text = "first-password second-password third-password"
    assert secrets.mask("app", text) == "*** *** ***"
    assert secrets.mask(None, text) == "*** *** ***"
    assert (
        Secrets(config, {}, Backups(tmp_path / "none")).mask("app", text)
        == "first-password second-password ***"
    )


def test_backups_are_found_where_the_environment_puts_the_state_folder(tmp_path: Path) -> None:
    """The CLI passes its environment only: ``$XDG_STATE_HOME``, else ``~/.local/state``."""
    config = farm(tmp_path, "SECRET=first-password\n")
    env = tmp_path / "stacks" / "app" / ".env"
    for environ in ({"XDG_STATE_HOME": str(tmp_path / "xdg")}, {"HOME": str(tmp_path / "home")}):
        edit(env, Backups.default(environ), "SECRET=first-password\n")
    env.write_text("SECRET=now\n")

    for environ in ({"XDG_STATE_HOME": str(tmp_path / "xdg")}, {"HOME": str(tmp_path / "home")}):
        assert Secrets(config, environ).mask("app", "first-password") == "***", environ
    assert (tmp_path / "home" / ".local" / "state" / "compose-farm" / "backups" / "app").is_dir()


def test_env_copies_left_in_a_legacy_cf_backup_folder_stay_masked(tmp_path: Path) -> None:
    config = farm(tmp_path, "SECRET=current-value\n")
    legacy = tmp_path / "stacks" / "app" / ".cf-backup"
    legacy.mkdir()
    (legacy / ".env.20240101-000000.123456").write_text("SECRET=older-value\n")  # an old name
    (legacy / ".env.20240102-000000.00000000000000000001").write_text('OTHER="old ${X:?}"\n')
    (legacy / "compose.yaml.20240101-000000.123456").write_text("NOT=a-secret\n")

    secrets = Secrets(config, {}, Backups(tmp_path / "backups"))

    shown = secrets.mask("app", "current-value older-value old ${X:?} a-secret")
    assert shown == "*** *** *** a-secret"
