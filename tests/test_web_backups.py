"""The editors' saves through the web API: modes on disk, where backups go, old values masked.

No lab: the editors never reach a host. ``$XDG_STATE_HOME`` points into
tmp_path, so the app's default backups folder is the test's own.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from compose_farm.web.app import create_app
from compose_farm.web.auth import CSRF_HEADER, Auth
from tests.support.web import csrf_of, farm_of, web_client, write_config

COMPOSE = "services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "compose-farm" / "backups"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def save(client: TestClient, url: str, text: str) -> dict[str, object]:
    saved = client.post(url, json={"text": text}, headers={CSRF_HEADER: csrf_of(client)})
    assert saved.status_code == 200, saved.text
    answer: dict[str, object] = saved.json()
    return answer


def test_an_env_made_in_the_editor_is_private_and_an_existing_file_keeps_its_mode(
    tmp_path: Path, state: Path
) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    folder = tmp_path / "stacks" / "app"
    env, compose = folder / ".env", folder / "compose.yaml"
    compose.chmod(0o640)
    with web_client(config) as client:
        made = save(client, "/api/stack/app/file/.env", "SECRET=first-value\n")
        made_mode = mode(env)
        env.chmod(0o640)
        again = save(client, "/api/stack/app/file/.env", "SECRET=second-value\n")
        edited = save(client, "/api/stack/app/file/compose.yaml", COMPOSE.replace("3600", "60"))

    assert made["backup"] is None
    assert oct(made_mode) == oct(0o600)
    assert (oct(mode(env)), oct(mode(compose))) == (oct(0o640), oct(0o640))
    backups = [Path(str(again["backup"])), Path(str(edited["backup"]))]
    assert [p.parent for p in backups] == [state / "app", state / "app"]
    assert [oct(mode(p)) for p in backups] == [oct(0o600), oct(0o600)]
    assert backups[0].read_text() == "SECRET=first-value\n"
    assert [oct(mode(p)) for p in (state.parent, state, state / "app")] == [oct(0o700)] * 3
    assert sorted(p.name for p in folder.iterdir()) == [".env", "compose.yaml"]


def test_the_configs_backup_goes_to_the_config_shelf(tmp_path: Path, state: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    original = config.read_text()
    with web_client(config) as client:
        saved = save(client, "/api/config", original + "  # edited\n")

    backup = Path(str(saved["backup"]))
    assert backup.parent == state / "_config"
    assert backup.read_text() == original
    assert not (config.parent / ".cf-backup").exists()


def test_create_app_takes_its_backups_folder(tmp_path: Path, state: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    auth = Auth(password_hash=None)

    given = create_app(config, auth, backups=tmp_path / "mine")
    by_environ = create_app(config, auth, environ={"HOME": str(tmp_path / "home")})
    with web_client(config) as client:
        default = farm_of(client).backups.root

    assert given.state.farm.backups.root == tmp_path / "mine"
    assert by_environ.state.farm.backups.root == (
        tmp_path / "home" / ".local" / "state" / "compose-farm" / "backups"
    )
    assert default == state


def test_an_old_env_value_stays_masked_in_the_editors_answers(tmp_path: Path, state: Path) -> None:
    """The compose editor's error quotes the text: an old password there is hidden too."""
    config = write_config(tmp_path, {"app": COMPOSE})
    (tmp_path / "stacks" / "app" / ".env").write_text("SECRET=old-password\n")
    broken = COMPOSE + "    ports: ['old-password:x:y:z', 'new-password:x:y:z']\n"
    with web_client(config) as client:
        save(client, "/api/stack/app/file/.env", "SECRET=new-password\n")
        refused = client.post(
            "/api/stack/app/file/compose.yaml",
            json={"text": broken},
            headers={CSRF_HEADER: csrf_of(client)},
        )
        masked = farm_of(client).mask("app", "old-password, new-password")

    assert refused.status_code == 400, refused.text
    assert "old-password" not in refused.text and "'***:x'" in refused.text, refused.text
    assert masked == "***, ***"
    assert list((state / "app").iterdir())  # the old value is known from its backup


def test_kept_versions_are_listed_newest_first_with_a_diff_to_the_file_now(
    tmp_path: Path, state: Path
) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    second = COMPOSE.replace("3600", "60")
    third = COMPOSE.replace("3600", "5")
    with web_client(config) as client:
        save(client, "/api/stack/app/file/compose.yaml", second)
        save(client, "/api/stack/app/file/compose.yaml", third)
        listed = client.get("/api/stack/app/file/compose.yaml/backups").json()["backups"]
        oldest = client.get(f"/api/stack/app/file/compose.yaml/backups/{listed[-1]['id']}").json()
        env_list = client.get("/api/stack/app/file/.env/backups").json()["backups"]

    assert [b["id"] for b in listed] == [p.name for p in sorted((state / "app").iterdir())][::-1]
    assert len(listed) == 2 and all(b["saved"][:2] == "20" for b in listed)
    assert oldest["text"] == COMPOSE
    assert "-    command: [sleep, '3600']\n" in oldest["diff"]
    assert "+    command: [sleep, '5']\n" in oldest["diff"]
    assert env_list == []


def test_a_kept_version_is_named_only_by_an_id_the_list_gave(tmp_path: Path, state: Path) -> None:
    """What an attacker would ask: a path, another stack's copy, another file's copy, the
    config's copy through a stack, a copy planted by hand with a look-alike name."""
    config = write_config(tmp_path, {"app": COMPOSE, "other": COMPOSE})
    with web_client(config) as client:
        save(client, "/api/stack/other/file/.env", "SECRET=other-stack\n")
        save(client, "/api/stack/other/file/.env", "SECRET=again\n")
        save(client, "/api/stack/app/file/compose.yaml", COMPOSE.replace("3600", "1"))
        save(client, "/api/config", config.read_text() + "# edited\n")
        other_env = next((state / "other").iterdir()).name
        app_compose = next((state / "app").iterdir()).name
        config_copy = next((state / "_config").iterdir()).name
        planted = state / "app" / "x"
        planted.write_text("SECRET=planted\n")
        (state / "app" / (".env.20000101-000000." + "0" * 20)).symlink_to(
            state / "other" / other_env
        )
        asks = {
            f"/api/stack/app/file/.env/backups/{other_env}": "another stack's copy",
            f"/api/stack/app/file/.env/backups/{app_compose}": "another file's copy",
            f"/api/stack/app/file/compose.yaml/backups/{config_copy}": "the config's copy",
            "/api/stack/app/file/.env/backups/..%2F..%2Fother%2F" + other_env: "a path",
            "/api/stack/app/file/.env/backups/x": "a file not made by cf",
            "/api/stack/app/file/.env/backups/.env.20000101-000000." + "0" * 20: "a symlink",
            f"/api/stack/app/file/..%2Fother%2F.env/backups/{other_env}": "a file path",
            f"/api/config/backups/{app_compose}": "a stack's copy as the config's",
        }
        answers = {what: client.get(url) for url, what in asks.items()}
        listed = client.get("/api/stack/app/file/.env/backups").json()["backups"]

    for what, answer in answers.items():
        assert answer.status_code in (400, 404), (what, answer.status_code, answer.text)
        assert "other-stack" not in answer.text and "planted" not in answer.text, what
    assert listed == []


def test_kept_versions_need_a_login(tmp_path: Path, state: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    with web_client(config) as client:
        save(client, "/api/stack/app/file/compose.yaml", COMPOSE.replace("3600", "1"))
        kept = client.get("/api/stack/app/file/compose.yaml/backups").json()["backups"][0]["id"]
        client.cookies.clear()
        answers = [
            client.get("/api/stack/app/file/compose.yaml/backups"),
            client.get(f"/api/stack/app/file/compose.yaml/backups/{kept}"),
            client.get("/api/config/backups"),
        ]
    assert [a.status_code for a in answers] == [401] * 3, [a.text for a in answers]
