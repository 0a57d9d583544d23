"""The farm from git, without hosts: webhook signatures, the hook's rate limit, the `git:`
config keys, which stacks a commit changed, and the checkout read through real `git`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from fastapi.testclient import TestClient

from compose_farm.config import load_config
from compose_farm.errors import ConfigError
from compose_farm.gitsource import GitError, changed_stacks, parse_commit
from compose_farm.operations.gitpull import incoming
from compose_farm.web.auth import CSRF_HEADER
from compose_farm.web.gitwatch import GitWatch
from compose_farm.web.hooksig import HookLimit, hmac_hex, signature_problem
from tests.support.config import config_text
from tests.support.git import git
from tests.support.waiting import poll
from tests.support.web import csrf_of, farm_of, web_app, web_client

SECRET = b"webhook-secret"
BODY = b'{"ref": "refs/heads/main", "after": "0123"}'


def signed(flavour: str, body: bytes = BODY, secret: bytes = SECRET) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if flavour == "github":
        return {"x-hub-signature-256": f"sha256={digest}"}
    if flavour == "gitea":
        return {"x-gitea-signature": digest}
    return {"x-gitlab-token": secret.decode()}


@pytest.mark.parametrize("flavour", ["github", "gitea", "gitlab"])
def test_each_flavour_accepts_its_own_signature(flavour: str) -> None:
    assert signature_problem(signed(flavour), BODY, SECRET) is None


@pytest.mark.parametrize(
    ("headers", "body", "words"),
    [
        (signed("github", secret=b"other"), BODY, "X-Hub-Signature-256 does not match"),
        (signed("gitea", secret=b"other"), BODY, "X-Gitea-Signature does not match"),
        (signed("gitlab", secret=b"other"), BODY, "X-Gitlab-Token does not match"),
        # a captured request replayed with another body: its signature no longer fits
        (signed("github"), BODY + b" ", "X-Hub-Signature-256 does not match"),
        (signed("gitea"), b'{"ref": "refs/heads/evil"}', "X-Gitea-Signature does not match"),
        ({"x-hub-signature-256": hmac_hex(SECRET, BODY)}, BODY, "not sha256=HEX"),
        ({"x-hub-signature-256": "sha1=" + hmac_hex(SECRET, BODY)}, BODY, "not sha256=HEX"),
        ({"x-gitea-signature": ""}, BODY, "X-Gitea-Signature does not match"),
        ({"x-gitlab-token": ""}, BODY, "X-Gitlab-Token does not match"),
        ({}, BODY, "no signature"),
        ({"x-hub-signature": "sha1=abc"}, BODY, "no signature"),
    ],
)
def test_wrong_missing_or_replayed_signatures_are_refused(
    headers: dict[str, str], body: bytes, words: str
) -> None:
    problem = signature_problem(headers, body, SECRET)
    assert problem is not None and words in problem


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # hooksig looks it up on the module
    for flavour in ("github", "gitea", "gitlab"):
        assert signature_problem(signed(flavour), BODY, SECRET) is None
        assert signature_problem(signed(flavour, secret=b"x"), BODY, SECRET) is not None
    assert len(seen) == 6


def test_the_rate_limit_counts_per_address_and_in_all() -> None:
    now = [1000.0]
    limit = HookLimit(per_client=3, in_all=5, clock=lambda: now[0])
    assert [limit.admit("a") for _ in range(3)] == [None, None, None]
    assert limit.admit("a") == 60  # the oldest leaves the window in 60 s
    assert [limit.admit("b"), limit.admit("c")] == [None, None]
    assert limit.admit("d") == 60  # all together: 5 in the last minute
    now[0] += 30
    assert limit.admit("e") == 30
    now[0] += 30  # the first three are a minute old
    assert [limit.admit("a") for _ in range(3)] == [None, None, None]
    now[0] += 61
    assert limit.admit("z") is None
    assert set(limit._seen) == {"z"}  # addresses with nothing in the window are forgotten


@pytest.mark.parametrize(
    ("git", "where", "words"),
    [
        ("{poll: 5}", "git.poll", "15 seconds or more"),
        ("{poll: true}", "git.poll", "whole number"),
        ("{auto_apply: maybe}", "git.auto_apply", "true or false"),
        ("{branch: ../main}", "git.branch", "not a branch name"),
        ("{branch: -f}", "git.branch", "not a branch name"),
        ("{url: --upload-pack=x}", "git.url", "not starting with '-'"),
        ("{url: 'https://me:pw@git.example/x.git'}", "git.url", "carries a password"),
        ("{webhook: {secret: abc}}", "git.webhook", "never goes in the config"),
        ("{webhook: {}}", "git.webhook", "either secret_file or secret_env"),
        ("{webhook: {secret_file: a, secret_env: B}}", "git.webhook", "either secret_file"),
        ("{webhook: {secret_env: 'a b'}}", "git.webhook.secret_env", "environment variable"),
        ("{brnach: main}", "git.brnach", ""),
    ],
)
def test_git_config_mistakes_name_the_key(tmp_path: Path, git: str, where: str, words: str) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(config_text(compose_dir=tmp_path) + f"git: {git}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f"{path}:5: {where}:" in text and words in text, text


def test_git_config_defaults(tmp_path: Path) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(config_text(compose_dir=tmp_path) + "git: {}\n")
    git = load_config(path).git
    assert git is not None
    assert (git.branch, git.url, git.path, git.auto_apply, git.poll, git.webhook) == (
        "main",
        None,
        None,
        False,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("paths", "compose", "expected"),
    [
        (["plex/compose.yaml", "web/.env"], ".", (("plex", "web"), False)),
        (["compose-farm.yaml"], ".", ((), True)),
        (["stacks/db/compose.yaml", "README.md", "stacks/x"], "stacks", (("db",), True)),
        (["stacks/db/a", "stacks/db/b/c"], "stacks", (("db",), False)),
        (["plex/compose.yaml"], None, ((), True)),
    ],
)
def test_changed_stacks(paths: list[str], compose: str | None, expected: object) -> None:
    folder = PurePosixPath(compose) if compose is not None else None
    assert changed_stacks(paths, folder) == expected


def test_parse_commit() -> None:
    commit = parse_commit("a" * 40 + "\x1fAnn\x1fann@x\x1f1700000000\x1fmove: db\x1fto h2\n")
    assert commit.line() == "aaaaaaaaaa by Ann: move: db\x1fto h2"
    assert (commit.email, commit.time) == ("ann@x", 1700000000)
    with pytest.raises(GitError):
        parse_commit("garbage")


def test_incoming_reads_the_new_commit_from_git_and_leaves_the_checkout(tmp_path: Path) -> None:
    bare, dev, live = tmp_path / "farm.git", tmp_path / "dev", tmp_path / "live"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(dev)], check=True, capture_output=True)

    def write(stacks: dict[str, str]) -> None:
        text = config_text(compose_dir=live, hosts=("h1", "h2"), stacks=stacks, git={})
        (dev / "compose-farm.yaml").write_text(text)
        for name in stacks:
            (dev / name).mkdir(exist_ok=True)
            (dev / name / "compose.yaml").write_text(f"services: {{{name}: {{image: x}}}}\n")

    write({"plex": "h1", "db": "h1"})
    git(dev, "add", "-A")
    git(dev, "commit", "-q", "-m", "first")
    git(dev, "push", "-q", "origin", "main")
    subprocess.run(["git", "clone", "-q", str(bare), str(live)], check=True)
    first = git(live, "rev-parse", "HEAD")
    write({"plex": "h1", "db": "h2"})
    (dev / "plex" / "compose.yaml").write_text("services: {plex: {image: y}}\n")
    git(dev, "commit", "-qam", "db to h2")
    git(dev, "push", "-q", "origin", "main")

    config = load_config(live / "compose-farm.yaml")
    found = asyncio.run(incoming(config))
    assert found.pending and found.head.sha == first
    assert found.commit.line().endswith("by Ann Example: db to h2")
    assert found.stacks == ("plex",) and found.config_changed and found.refusal is None
    assert found.config.stacks["db"].hosts == ("h2",)  # the commit's config...
    assert found.config.path == config.path  # ...as if it were checked out already
    assert git(live, "rev-parse", "HEAD") == first  # the checkout did not move
    assert load_config(live / "compose-farm.yaml").stacks["db"].hosts == ("h1",)

    (live / "plex" / "compose.yaml").write_text("edited here\n")
    dirty = asyncio.run(incoming(config))
    assert dirty.refusal is not None and "uncommitted changes (plex/compose.yaml)" in dirty.refusal

    # a commit whose config does not load is reported with its line, and never checked out
    (dev / "compose-farm.yaml").write_text((dev / "compose-farm.yaml").read_text() + "bogus: 1\n")
    git(dev, "commit", "-qam", "a typo")
    git(dev, "push", "-q", "origin", "main")
    with pytest.raises(GitError) as caught:
        asyncio.run(incoming(config))
    assert "is invalid (nothing was applied)" in str(caught.value)
    assert "compose-farm.yaml:" in str(caught.value) and "bogus" in str(caught.value)
    assert git(live, "rev-parse", "HEAD") == first


def test_pull_config_without_a_git_section_says_what_to_add(tmp_path: Path) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(config_text(compose_dir=tmp_path))
    with pytest.raises(GitError) as caught:
        asyncio.run(incoming(load_config(path)))
    assert "no git section" in caught.value.message and "docs/git.md" in (caught.value.hint or "")


def hook_config(tmp_path: Path, webhook: str = "{secret_env: CF_TEST_HOOK}") -> Path:
    path = tmp_path / "compose-farm.yaml"
    text = config_text(compose_dir=tmp_path / "no-such-checkout")
    path.write_text(text + f"git: {{webhook: {webhook}}}\n")
    return path


def test_the_hook_needs_no_login_but_a_valid_signature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = web_app(hook_config(tmp_path), environ={"CF_TEST_HOOK": SECRET.decode()})
    caplog.set_level(logging.INFO, logger="compose_farm.web.hooks")
    with TestClient(app, client=("192.0.2.7", 1234)) as client:  # no session
        ok = client.post("/hooks/git", content=BODY, headers=signed("gitea"))
        assert ok.status_code == 202, ok.text
        other = b'{"ref": "refs/heads/feature"}'
        skipped = client.post("/hooks/git", content=other, headers=signed("github", other))
        assert skipped.status_code == 202 and "ignored" in skipped.text
        bad = client.post("/hooks/git", content=BODY, headers=signed("gitea", secret=b"guess"))
        assert bad.status_code == 403
        missing = client.post("/hooks/git", content=BODY)
        assert missing.status_code == 401
        for _ in range(2):
            assert (
                client.post("/hooks/git", content=BODY, headers=signed("gitlab")).status_code == 202
            )
        limited = client.post("/hooks/git", content=BODY, headers=signed("gitlab"))
        assert limited.status_code == 429 and limited.headers["retry-after"].isdigit()
        # the other routes still want a login
        assert client.post("/api/git/check").status_code == 401
        assert client.get("/git/panel").status_code == 401
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "git hook from 192.0.2.7 refused: X-Gitea-Signature does not match the body" in (
        refusals
    )
    assert any("refused: no signature" in line for line in refusals)
    assert any("rate limit" in line for line in refusals)
    assert not any(SECRET.decode() in r.getMessage() for r in caplog.records)


def test_the_hook_body_is_bounded_like_every_body(tmp_path: Path) -> None:
    app = web_app(hook_config(tmp_path), environ={"CF_TEST_HOOK": SECRET.decode()})
    with TestClient(app) as client:
        big = b"x" * (2 * 1024 * 1024 + 1)
        assert (
            client.post("/hooks/git", content=big, headers=signed("gitea", big)).status_code == 413
        )


def test_the_hook_without_a_configured_or_readable_secret(tmp_path: Path) -> None:
    unset = web_app(hook_config(tmp_path), environ={})
    with TestClient(unset) as client:
        assert client.post("/hooks/git", content=BODY, headers=signed("gitea")).status_code == 503
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "compose-farm.yaml").write_text(config_text(compose_dir=plain))
    with TestClient(web_app(plain / "compose-farm.yaml", environ={})) as client:
        assert client.post("/hooks/git", content=BODY, headers=signed("gitea")).status_code == 404


def test_polling_checks_from_the_start_and_stops_with_the_app(tmp_path: Path) -> None:
    path = tmp_path / "compose-farm.yaml"
    text = config_text(compose_dir=tmp_path / "no-such-checkout")
    path.write_text(text + "git: {poll: 15}\n")
    app = web_app(path, environ={})
    with TestClient(app):
        watch: GitWatch = app.state.gitwatch
        poll(lambda: watch.view, what="the first poll's check", timeout=30)
        assert watch.view is not None and watch.view.error is not None
        assert "no-such-checkout does not exist" in watch.view.error
        poller = watch.poller
        assert poller is not None and not poller.done()
    assert poller.done()  # cancelled on shutdown


def test_apply_commit_applies_only_the_commit_the_panel_shows(tmp_path: Path) -> None:
    path = hook_config(tmp_path)
    with web_client(path, environ={}) as client:
        csrf = csrf_of(client)
        sha = "0123456789abcdef0123456789abcdef01234567"
        assert client.post(f"/api/git/apply/{sha}").status_code == 403  # no CSRF token
        stale = client.post(f"/api/git/apply/{sha}", headers={CSRF_HEADER: csrf})
        assert stale.status_code == 409 and "no longer the branch's tip" in stale.text
        odd = client.post("/api/git/apply/HEAD~1", headers={CSRF_HEADER: csrf})
        assert odd.status_code in (400, 404)
        panel = client.get("/git/panel")
        assert panel.status_code == 200 and "Not checked yet" in panel.text
        assert not farm_of(client).tasks.tasks
