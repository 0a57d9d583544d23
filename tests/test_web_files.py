"""The editors' file rules (compose_farm.web.files), pure: a config and folders in tmp_path.

Which paths the UI may touch, how a text is validated before it is saved,
and what a save leaves behind: the new text with the file's mode (a new
``.env`` private), a private backup of the old one in cf's backups folder
(never in the stack folder), no more than ``backups.KEEP`` backups.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from compose_farm.backups import CONFIG, KEEP, BackupRefused, Backups
from compose_farm.config import Config
from compose_farm.errors import ComposeFileError, ConfigError
from compose_farm.web import files
from compose_farm.web.auth import Auth
from compose_farm.web.farm import Farm
from tests.support.config import make_config
from tests.support.web import write_config

COMPOSE = "services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config over ``tmp_path/stacks``: one host, two stacks on it."""
    return make_config(tmp_path, compose={"app": COMPOSE, "other": COMPOSE})


# --- which paths -------------------------------------------------------------------


@pytest.mark.parametrize("name", [*files.STACK_FILES])
def test_allowed_names_resolve_inside_the_stack_folder(config: Config, name: str) -> None:
    assert files.stack_file(config, "app", name) == Path(str(config.compose_dir)) / "app" / name


@pytest.mark.parametrize(
    "name",
    [
        "../other/compose.yaml",
        "../../compose-farm.yaml",
        "/etc/passwd",
        "..",
        ".",
        "",
        "Dockerfile",
        "compose.override.yaml",
        ".cf-backup",
        ".env.bak",
        "compose.yaml/",
        "sub/compose.yaml",
    ],
)
def test_other_names_are_refused(config: Config, name: str) -> None:
    with pytest.raises(files.FileRefused, match="not an editable file"):
        files.stack_file(config, "app", name)


@pytest.mark.parametrize("stack", ["missing", "../app", "app/..", "a;b", ""])
def test_unknown_or_unsafe_stacks_are_refused(config: Config, stack: str) -> None:
    with pytest.raises(files.FileRefused, match="unknown stack"):
        files.stack_file(config, stack, "compose.yaml")


def test_a_compose_file_linked_outside_its_folder_is_refused(
    tmp_path: Path, config: Config
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(COMPOSE)
    link = Path(str(config.compose_dir)) / "app" / "compose.yaml"
    link.unlink()
    link.symlink_to(outside)

    with pytest.raises(files.FileRefused, match="link to a file outside"):
        files.stack_file(config, "app", "compose.yaml")


def test_a_dotenv_linked_into_another_stack_is_refused(config: Config) -> None:
    root = Path(str(config.compose_dir))
    (root / "other" / ".env").write_text("A=1\n")
    (root / "app" / ".env").symlink_to(root / "other" / ".env")

    with pytest.raises(files.FileRefused, match="link to a file outside"):
        files.stack_file(config, "app", ".env")


def test_a_link_to_a_file_in_the_same_folder_is_allowed(config: Config) -> None:
    folder = Path(str(config.compose_dir)) / "app"
    (folder / "compose.yaml").rename(folder / "compose.prod.yaml")
    (folder / "compose.yaml").symlink_to("compose.prod.yaml")

    assert files.stack_file(config, "app", "compose.yaml") == folder / "compose.yaml"


def test_a_stack_folder_linked_outside_compose_dir_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path, compose={"app": COMPOSE, "linked": COMPOSE})
    elsewhere = tmp_path / "elsewhere"
    folder = Path(str(config.compose_dir)) / "linked"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)

    for name in files.STACK_FILES:
        with pytest.raises(files.FileRefused, match="leads outside"):
            files.stack_file(config, "linked", name)


@pytest.mark.parametrize("target", ["other", "ABS"])
def test_a_stack_folder_linked_to_another_stacks_folder_is_refused(
    tmp_path: Path, target: str
) -> None:
    config = make_config(tmp_path, compose={"app": COMPOSE, "other": COMPOSE, "twin": COMPOSE})
    root = Path(str(config.compose_dir))
    (root / "other" / ".env").write_text("A=1\n")
    shutil.rmtree(root / "twin")
    (root / "twin").symlink_to(root / "other" if target == "ABS" else target)

    for name in files.STACK_FILES:
        with pytest.raises(files.FileRefused) as refused:
            files.stack_file(config, "twin", name)
        assert refused.value.message == (
            f"{root}/twin is a symlink to {root}/other: the editors change only a stack's own "
            "folder; edit the files there, or make it a real folder"
        )
    assert files.stack_file(config, "other", ".env") == root / "other" / ".env"


# --- validation ----------------------------------------------------------------------


def test_a_valid_compose_text_passes(config: Config) -> None:
    files.validate_stack_file(config, "app", "compose.yaml", COMPOSE.replace("3600", "60"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services:\n  app:\n    image: [x\n", ":4: YAML syntax error"),
        ("services: [a, b]\n", ":1: services: must be a mapping"),
        ("services:\n  app: 5\n", ":2: services.app: must be a mapping"),
        ("services:\n  app:\n    image: x\n    ports: ['80:http']\n", ":4: services.app.ports[0]"),
        ("services:\n  app:\n    image: ${IMG:?set IMG}\n", ":3: services.app.image: required"),
    ],
)
def test_an_invalid_compose_text_names_the_file_and_line(
    config: Config, text: str, expected: str
) -> None:
    path = files.stack_file(config, "app", "compose.yaml")
    with pytest.raises(ComposeFileError) as caught:
        files.validate_stack_file(config, "app", "compose.yaml", text)
    assert caught.value.message.startswith(f"{path}:"), caught.value.message
    assert expected in caught.value.message


def test_validation_interpolates_with_the_stacks_own_dotenv(config: Config) -> None:
    text = "services:\n  app:\n    image: ${IMG:?set IMG}\n"
    (Path(str(config.compose_dir)) / "app" / ".env").write_text("IMG=busybox\n")

    files.validate_stack_file(config, "app", "compose.yaml", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [('A="abc\n', ":1: unterminated quoted value"), ("A=1\nB C=2\n", ":2: key cannot contain")],
)
def test_an_invalid_dotenv_names_the_line(config: Config, text: str, expected: str) -> None:
    with pytest.raises(ComposeFileError, match=expected):
        files.validate_stack_file(config, "app", ".env", text)


def test_config_validation_names_the_key_and_line(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "compose-farm.yaml"
    good = path.read_text()
    files.validate_config(path, good)

    cases = {
        good + "bogus: 1\n": ":7: bogus: unknown key",
        good.replace("app: h1", "app: h9"): ":5: stacks.app: unknown host 'h9'",
        "hosts:\n  h1: {address: 1\n": ":3: YAML syntax error",
        "- a\n- b\n": "must be a mapping",
    }
    for text, expected in cases.items():
        with pytest.raises(ConfigError) as caught:
            files.validate_config(path, text)
        assert expected in caught.value.message, (text, caught.value.message)
        assert str(path) in caught.value.message


# --- saving --------------------------------------------------------------------------


@pytest.fixture
def backups(tmp_path: Path) -> Backups:
    return Backups(tmp_path / "state" / "compose-farm" / "backups")


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    folder = tmp_path / "stacks" / "app"
    folder.mkdir(parents=True)
    return folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("name", "expected"), [(".env", 0o600), ("compose.yaml", 0o644)])
def test_a_new_file_is_written_without_a_backup_and_a_new_env_is_private(
    stack: Path, backups: Backups, name: str, expected: int
) -> None:
    path = stack / name

    assert files.save(path, "A=1\n", backups, "app") is None

    assert path.read_text() == "A=1\n"
    assert mode(path) == expected, oct(mode(path))
    assert not backups.root.parent.exists()  # nothing to back up: no folder made


def test_the_backup_goes_to_cfs_own_folder_never_the_stack_folder(
    stack: Path, backups: Backups
) -> None:
    path = stack / "compose.yaml"
    path.write_text("old\n")

    backup = files.save(path, "new\n", backups, "app", now=0)

    assert path.read_text() == "new\n"
    assert backup is not None
    assert backup.parent == backups.root / "app"
    assert backup.name.startswith("compose.yaml.19700101-000000.")
    assert backup.read_text() == "old\n"
    assert sorted(p.name for p in stack.iterdir()) == ["compose.yaml"]
    for folder in (backups.root.parent, backups.root, backups.root / "app"):
        assert mode(folder) == 0o700, (folder, oct(mode(folder)))


@pytest.mark.parametrize(
    ("before", "backed_up"), [(0o644, 0o600), (0o640, 0o600), (0o600, 0o600), (0o400, 0o400)]
)
@pytest.mark.parametrize("name", [".env", "compose.yaml"])
def test_a_file_keeps_its_mode_and_its_backup_is_private(
    stack: Path, backups: Backups, name: str, before: int, backed_up: int
) -> None:
    path = stack / name
    path.write_text("A=old\n")
    path.chmod(before)

    first = files.save(path, "A=new\n", backups, "app")
    second = files.save(path, "A=newer\n", backups, "app")

    assert path.read_text() == "A=newer\n"
    assert mode(path) == before, oct(mode(path))
    assert first is not None and second is not None
    assert [mode(first), mode(second)] == [backed_up, backed_up]
    assert [first.read_text(), second.read_text()] == ["A=old\n", "A=new\n"]


def test_the_configs_backups_have_their_own_folder(tmp_path: Path, backups: Backups) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text("old\n")

    backup = files.save(path, "new\n", backups, CONFIG)

    assert backup is not None and backup.parent == backups.root / "_config"
    assert backups.copies(CONFIG, path.name) == [backup]


def test_only_the_newest_backups_are_kept(stack: Path, backups: Backups) -> None:
    path = stack / "compose.yaml"
    path.write_text("v0\n")

    for n in range(1, 14):
        files.save(path, f"v{n}\n", backups, "app", now=1_700_000_000 + n)

    kept = sorted((backups.root / "app").iterdir())
    assert len(kept) == KEEP
    assert sorted(p.read_text() for p in kept) == sorted(f"v{n}\n" for n in range(3, 13))


def test_quick_saves_within_one_second_keep_the_newest_backups(
    stack: Path, backups: Backups
) -> None:
    path = stack / "compose.yaml"
    path.write_text("v0\n")

    for n in range(1, 31):
        files.save(path, f"v{n}\n", backups, "app", now=1_700_000_000)

    kept = sorted(p.read_text() for p in (backups.root / "app").iterdir())
    assert kept == sorted(f"v{n}\n" for n in range(20, 30))


def test_a_file_where_the_backup_folder_should_be_is_refused(stack: Path, backups: Backups) -> None:
    path = stack / "compose.yaml"
    path.write_text("old\n")
    backups.root.mkdir(parents=True)
    (backups.root / "app").write_text("a file where the backup folder should be")

    with pytest.raises(BackupRefused, match="is not a folder"):
        files.save(path, "new\n", backups, "app")

    assert path.read_text() == "old\n"


OLD_BACKUP = "compose.yaml.20000101-000000.{:020d}"  # named as `save` names backups, long ago


def victims(folder: Path) -> dict[str, str]:
    """Files whose names start like compose.yaml's backups, and one named exactly like one."""
    folder.mkdir(parents=True)
    found = {f"compose.yaml.victim{n:02d}": f"precious {n}\n" for n in range(KEEP + 3)}
    found[OLD_BACKUP.format(1)] = "named like a backup\n"
    for file, text in found.items():
        (folder / file).write_text(text)
    return found


def contents(folder: Path) -> dict[str, str]:
    """Name -> text of the regular files in ``folder``."""
    return {p.name: p.read_text() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("linked", ["shelf", "root", "compose-farm"])
@pytest.mark.parametrize("target", ["elsewhere", "elsewhere/missing"])
def test_a_backup_folder_that_is_a_symlink_is_refused(
    tmp_path: Path, stack: Path, backups: Backups, linked: str, target: str
) -> None:
    path = stack / "compose.yaml"
    path.write_text("old\n")
    before = victims(tmp_path / "elsewhere")
    link = {
        "shelf": backups.root / "app",
        "root": backups.root,
        "compose-farm": backups.root.parent,
    }
    link[linked].parent.mkdir(parents=True, exist_ok=True)
    link[linked].symlink_to(tmp_path / target)

    with pytest.raises(BackupRefused) as refused:
        files.save(path, "new\n", backups, "app")

    assert refused.value.message == (
        f"{link[linked]} is a symlink: cf keeps backups only in a real folder there; "
        "move it away. Nothing was saved"
    )
    assert path.read_text() == "old\n"
    assert contents(tmp_path / "elsewhere") == before


def test_pruning_removes_only_the_backups_cf_made(
    tmp_path: Path, stack: Path, backups: Backups
) -> None:
    path = stack / "compose.yaml"
    path.write_text("v0\n")
    folder = backups.root / "app"
    before = victims(folder)
    del before[OLD_BACKUP.format(1)]  # a regular file named as cf names them: cf's, pruned
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    linked = folder / OLD_BACKUP.format(2)
    linked.symlink_to(outside)
    (folder / OLD_BACKUP.format(3)).mkdir()

    for n in range(1, 14):
        files.save(path, f"v{n}\n", backups, "app", now=1_700_000_000 + n)

    made = {k: v for k, v in contents(folder).items() if k.startswith("compose.yaml.2023")}
    assert sorted(made.values()) == sorted(f"v{n}\n" for n in range(3, 13))
    assert {k: v for k, v in contents(folder).items() if k in before} == before
    assert not (folder / OLD_BACKUP.format(1)).exists()
    assert linked.is_symlink() and outside.read_text() == "outside\n"
    assert (folder / OLD_BACKUP.format(3)).is_dir()


def test_a_legacy_backup_folder_in_the_stack_folder_is_left_alone(
    stack: Path, backups: Backups
) -> None:
    """Older versions kept backups in ``.cf-backup/``: a save neither writes there nor
    follows a link there."""
    path = stack / "compose.yaml"
    path.write_text("old\n")
    (stack / ".cf-backup").symlink_to(stack.parent)

    backup = files.save(path, "new\n", backups, "app")

    assert backup is not None and backup.parent == backups.root / "app"
    assert sorted(p.name for p in stack.parent.iterdir()) == ["app"]


# --- masking -------------------------------------------------------------------------


def test_masking_keeps_the_last_secrets_while_the_config_is_broken(tmp_path: Path) -> None:
    """A config saved broken must not unmask farm-wide text (errors, plan lines, tasks)."""
    config = write_config(tmp_path, {"app": "services: {app: {image: x}}\n"})
    (tmp_path / "stacks" / "app" / ".env").write_text("TOKEN=hunter2-token\n")
    farm = Farm(config_path=config, auth=Auth(password_hash=None), backups=Backups(tmp_path / "b"))
    farm.config()
    assert farm.mask(None, "uses hunter2-token") == "uses ***"

    config.write_text("hosts: [\n")  # broken YAML
    farm.invalidate()
    with pytest.raises(ConfigError):
        farm.config()

    assert farm.mask(None, "uses hunter2-token") == "uses ***"
    assert farm.mask("app", "uses hunter2-token") == "uses ***"


def test_masking_with_no_readable_config_ever_hides_a_stacks_text(tmp_path: Path) -> None:
    config = tmp_path / "compose-farm.yaml"
    config.write_text("hosts: [\n")
    farm = Farm(config_path=config, auth=Auth(password_hash=None), backups=Backups(tmp_path / "b"))
    with pytest.raises(ConfigError):
        farm.config()
    assert farm.mask("app", "anything at all") == "***"
    assert farm.mask(None, "the config is broken") == "the config is broken"
