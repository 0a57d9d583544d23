"""The farm from a git repository, on the lab: `cf pull-config` and `cf web`'s webhook.

A bare repository in tmp stands for the git server; ``dev`` is a person's clone (the
test edits and pushes there, with real `git push`); ``live`` is the checkout cf reads
(its config names ``live`` as ``compose_dir``, and the lab's hosts share this
machine's filesystem, so they run compose in ``live``'s folders). Outcomes are read
from the hosts' engines, the checkout (`git rev-parse HEAD`) and the state file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from compose_farm.state import StateStore
from tests.support.browser import chromium
from tests.support.cf import run_cf
from tests.support.config import CONFIG_NAME, config_text
from tests.support.farm import Farm, FarmFactory, on
from tests.support.git import AUTHOR, git
from tests.support.waiting import poll
from tests.support.web import WebServer

pytestmark = [pytest.mark.lab]

SECRET = "s3cret-webhook-key-for-tests"
MISSING_IMAGE = "127.0.0.1:9/cf-e2e/missing:1"  # nothing listens there: the pull fails


class GitFarm(Farm):
    """A farm whose config and stack folders live in a git repository.

    ``folder`` holds ``farm.git`` (bare), ``dev`` (where the test writes and pushes) and
    ``live`` (cf's checkout). Writing the config or a stack writes ``dev``; ``push``
    commits and pushes it; the config always names ``live`` as the compose folder.
    """

    git_settings: ClassVar[dict[str, Any]] = {"branch": "main"}

    def prepare(self) -> None:
        self.bare = self.folder / "farm.git"
        self.dev = self.folder / "dev"
        self.live = self.folder / "live"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "clone", "-q", str(self.bare), str(self.dev)], check=True)
        (self.dev / ".gitignore").write_text("compose-farm-state.yaml*\ncompose-farm.lock\n")

    def initial_settings(self) -> dict[str, Any]:
        return {"git": dict(self.git_settings)}

    @property
    def compose_dir(self) -> Path:
        return self.dev  # where stack folders are written (then pushed)

    @property
    def config_path(self) -> Path:
        return self.live / CONFIG_NAME

    @property
    def state_path(self) -> Path:
        return self.live / "compose-farm-state.yaml"

    def write_config(self) -> None:
        hosts = {h: {"address": self.lab.host(h).address, "user": "root"} for h in self.hosts}
        stacks = {
            stack: {"hosts": where, **self.options[stack]} if self.options.get(stack) else where
            for stack, where in self.stacks.items()
        }
        text = config_text(compose_dir=self.live, hosts=hosts, stacks=stacks, **self.settings)
        (self.dev / CONFIG_NAME).write_text(text)

    def push(self, message: str) -> str:
        """Commit everything in ``dev`` and push it (a real `git push`); the new commit."""
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "-q", "-m", message)
        git(self.dev, "push", "-q", "origin", "main")
        return git(self.dev, "rev-parse", "HEAD")

    def clone_live(self) -> None:
        subprocess.run(["git", "clone", "-q", str(self.bare), str(self.live)], check=True)

    def head(self) -> str:
        return git(self.live, "rev-parse", "HEAD")

    def recorded(self) -> str | None:
        return StateStore(self.state_path).read().commit

    def close(self) -> None:
        try:
            super().close()
        finally:
            for name in self.folders:  # the checkout's copies too
                subprocess.run(["rm", "-rf", str(self.live / name)], check=False)


@pytest.fixture
def gitfarm(make_farm: FarmFactory) -> GitFarm:
    return make_farm(("h1", "h2"), kind=GitFarm)


def test_pull_config_plans_without_touching_the_checkout_then_applies_the_commit(
    gitfarm: GitFarm,
) -> None:
    farm = gitfarm
    app = farm.stack("app", "h1")
    first = farm.push("app on h1")
    farm.clone_live()
    assert (done := farm.cf("pull-config", "--yes")).returncode == 0, done
    assert farm.on_engines() == {app: on("h1")}
    assert farm.recorded() == first

    farm.place(app, "h2")
    second = farm.push("move app to h2")
    config_before = farm.config_path.read_text()

    dry = farm.cf("pull-config", "--dry-run")
    assert dry.returncode == 0, dry
    assert f"commit {second[:10]} by Ann Example: move app to h2" in dry.output, dry.output
    assert f"{app}: h1 -> h2" in dry.output, dry.output
    assert "config changed: compose-farm.yaml" in dry.output, dry.output
    assert farm.head() == first and farm.config_path.read_text() == config_before
    assert farm.on_engines() == {app: on("h1")}  # nothing moved
    assert farm.recorded() == first

    applied = farm.cf("pull-config", "--yes")
    assert applied.returncode == 0, applied
    assert farm.on_engines() == {app: on("h2")}
    assert farm.head() == second and farm.recorded() == second
    assert farm.state() == {app: ("h2",)}

    again = farm.cf("pull-config", "--dry-run", "--json")
    assert again.returncode == 0, again
    assert '"pending": false' in again.stdout, again.stdout


def test_a_commit_whose_apply_fails_leaves_the_checkout_at_the_applied_commit(
    gitfarm: GitFarm,
) -> None:
    farm = gitfarm
    app = farm.stack("app", "h1")
    good = farm.push("app on h1")
    farm.clone_live()
    assert (done := farm.cf("pull-config", "--yes")).returncode == 0, done

    broken = farm.stack("broken", "h2", f"services:\n  app:\n    image: {MISSING_IMAGE}\n")
    bad = farm.push("add a stack whose image does not exist")
    failed = farm.cf("pull-config", "--yes")
    assert failed.returncode != 0, failed
    assert f"checkout {farm.live} is back at {good[:10]}" in failed.output, failed.output
    assert farm.head() == good != bad
    assert farm.recorded() == good
    assert git(farm.live, "status", "--porcelain", "--untracked-files=no") == ""
    assert broken not in farm.on_engines() and farm.on_engines()[app] == on("h1")


def test_a_dirty_checkout_or_a_rewritten_branch_is_refused(gitfarm: GitFarm) -> None:
    farm = gitfarm
    app = farm.stack("app", "h1")
    farm.push("app on h1")
    farm.clone_live()
    (farm.live / CONFIG_NAME).write_text((farm.live / CONFIG_NAME).read_text() + "# local\n")
    refused = farm.cf("pull-config", "--yes")
    assert refused.returncode != 0, refused
    assert "uncommitted changes (compose-farm.yaml)" in refused.output, refused.output
    assert farm.on_engines() == {} and farm.recorded() is None

    git(farm.live, "checkout", "--", CONFIG_NAME)
    git(farm.live, "commit", "-q", "--allow-empty", "-m", "a local commit")
    farm.place(app, "h2")
    farm.push("pushed meanwhile")  # the checkout has a commit dev lacks: they diverge
    refused = farm.cf("pull-config", "--yes")
    assert refused.returncode != 0, refused
    assert "cf only fast-forwards" in refused.output, refused.output
    assert farm.on_engines() == {}


POST_RECEIVE = """\
#!{python}
# A post-receive hook that signs its POST as Gitea does (X-Gitea-Signature: HMAC-SHA256).
import hashlib, hmac, json, sys, urllib.request
for line in sys.stdin:
    old, new, ref = line.split()
    body = json.dumps({{"ref": ref, "before": old, "after": new}}).encode()
    signature = hmac.new({secret!r}.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        {url!r}, data=body, method="POST",
        headers={{"Content-Type": "application/json", "X-Gitea-Event": "push",
                 "X-Gitea-Signature": signature}},
    )
    handler = urllib.request.ProxyHandler({{}})
    with urllib.request.build_opener(handler).open(request, timeout=30) as answer:
        print("webhook:", answer.status)
"""


class HookFarm(GitFarm):
    git_settings: ClassVar[dict[str, Any]] = {
        "branch": "main",
        "auto_apply": True,
        "webhook": {"secret_file": "secret"},
    }


@pytest.mark.farm(hosts=("h1", "h2"), kind=HookFarm)
def test_a_push_rings_cf_web_which_applies_it_and_a_paused_stack_stays_down(
    farm: HookFarm, tmp_path: Path
) -> None:
    app = farm.stack("app", "h1")
    held = farm.stack("held", "h1")
    first = farm.push("app and held on h1")
    farm.clone_live()
    (farm.live / "secret").write_text(SECRET + "\n")
    assert (done := farm.cf("pull-config", "--yes")).returncode == 0, done
    assert (down := farm.cf("down", held)).returncode == 0, down
    assert farm.on_engines() == {app: on("h1")}
    assert farm.recorded() == first

    with WebServer(farm.config_path, farm.env(), tmp_path / "web.log") as web:
        hook = farm.bare / "hooks" / "post-receive"
        hook.write_text(
            POST_RECEIVE.format(python=sys.executable, secret=SECRET, url=f"{web.url}/hooks/git")
        )
        hook.chmod(0o755)

        farm.place(app, "h2")
        farm.place(held, "h2")  # a paused stack moved in the config: still not started
        second = push_and_show(farm, "move app and held to h2")

        poll(lambda: farm.recorded() == second or None, what="cf web to apply the commit")
        assert farm.head() == second
        assert farm.on_engines() == {app: on("h2")}
        assert StateStore(farm.state_path).read().paused == {held: ("h1",)}
        process = web.process
        assert process is not None
        process.wait_for(r"git hook from 127\.0\.0\.1: checking main")

        cookie = web.login_cookie()

        def panel_says_applied() -> bool | None:
            panel = httpx.get(f"{web.url}/git/panel", headers={"Cookie": cookie}, trust_env=False)
            assert panel.status_code == 200, panel.text
            return f"At <code>{second[:10]}</code> by Ann Example" in panel.text or None

        poll(panel_says_applied, what="the commit panel to show the applied commit")

        body = b'{"ref": "refs/heads/main"}'
        forged = hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
        refused = httpx.post(
            f"{web.url}/hooks/git",
            content=body,
            headers={"X-Gitea-Signature": forged},
            trust_env=False,
        )
        assert refused.status_code == 403, refused.text
        process.wait_for(r"git hook from 127\.0\.0\.1 refused: X-Gitea-Signature does not match")
        assert SECRET not in web.output()
    assert farm.on_engines() == {app: on("h2")}


def push_and_show(farm: GitFarm, message: str) -> str:
    """Push from ``dev``; the post-receive hook's answer must be 202 (it ran, it was heard)."""
    git(farm.dev, "add", "-A")
    git(farm.dev, "commit", "-q", "-m", message)
    done = subprocess.run(
        ["git", "-C", str(farm.dev), "push", "origin", "main"],
        capture_output=True,
        text=True,
        env={**os.environ, **AUTHOR},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "webhook: 202" in done.stderr, done.stderr
    return git(farm.dev, "rev-parse", "HEAD")


def test_a_fetch_over_ssh_uses_the_users_setup_and_checks_the_host_key(gitfarm: GitFarm) -> None:
    """`git.url` names the bare repository over SSH on a lab host; the user's own
    ``GIT_SSH_COMMAND`` picks the lab's ssh config (strict host key checking). With a
    known_hosts that lacks the host, the fetch fails: cf does not turn the check off."""
    farm = gitfarm
    app = farm.stack("app", "h1")
    first = farm.push("app on h1")
    farm.clone_live()
    h1 = farm.lab.host("h1").address
    farm.settings["git"] = {"branch": "main", "url": f"root@{h1}:{farm.bare}"}
    farm.place(app, "h2")
    second = farm.push("fetch me over ssh")

    ssh_config = Path(farm.env()["HOME"]) / ".ssh" / "config"
    user_setup = {**farm.env(), "GIT_SSH_COMMAND": f"ssh -F {ssh_config}"}
    # the checkout still has the config of the first commit: it fetches from `origin`
    git(farm.live, "remote", "set-url", "origin", f"root@{h1}:{farm.bare}")
    seen = run_cf("pull-config", "--dry-run", base=user_setup, cwd=farm.folder)
    assert seen.returncode == 0, seen
    assert f"commit {second[:10]} by Ann Example: fetch me over ssh" in seen.output, seen.output

    stranger = farm.folder / "ssh_config_unknown_host"
    stranger.write_text(
        ssh_config.read_text().replace(
            str(ssh_config.parent / "known_hosts"), str(farm.folder / "empty_known_hosts")
        )
    )
    (farm.folder / "empty_known_hosts").write_text("")
    refused = run_cf(
        "pull-config",
        "--dry-run",
        base={**farm.env(), "GIT_SSH_COMMAND": f"ssh -F {stranger}"},
        cwd=farm.folder,
    )
    assert refused.returncode != 0, refused
    assert "Host key verification failed" in refused.output, refused.output
    assert "Traceback" not in refused.output
    assert farm.head() == first and farm.on_engines() == {}  # dry runs: nothing moved


class ClickFarm(GitFarm):
    git_settings: ClassVar[dict[str, Any]] = {
        "branch": "main",
        "webhook": {"secret_env": "CF_E2E_HOOK_SECRET"},
    }


@pytest.mark.browser
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("web-browser")  # one `cf web` + Chromium at a time
@pytest.mark.farm(hosts=("h1", "h2"), kind=ClickFarm)
def test_without_auto_apply_the_dashboard_shows_the_commit_and_its_button_applies_it(
    farm: ClickFarm, tmp_path: Path
) -> None:
    app = farm.stack("app", "h1")
    farm.push("app on h1")
    farm.clone_live()
    assert (done := farm.cf("pull-config", "--yes")).returncode == 0, done

    env = {**farm.env(), "CF_E2E_HOOK_SECRET": SECRET}
    with WebServer(farm.config_path, env, tmp_path / "web.log") as web:
        hook = farm.bare / "hooks" / "post-receive"
        hook.write_text(
            POST_RECEIVE.format(python=sys.executable, secret=SECRET, url=f"{web.url}/hooks/git")
        )
        hook.chmod(0o755)
        farm.place(app, "h2")
        second = push_and_show(farm, "move app to h2")
        assert web.process is not None
        web.process.wait_for(r"git: new commit " + second[:10])
        assert farm.on_engines() == {app: on("h1")}  # waits for a click

        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(90_000)
            page.goto(f"{web.url}/login")
            page.fill("#password", web.password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{web.url}/")
            panel = page.locator("#commit")
            panel.get_by_text(f"New commit {second[:10]} by Ann Example: move app to h2").wait_for()
            assert f"{app}: h1 -> h2" in panel.inner_text()
            page.on("dialog", lambda dialog: dialog.accept())
            page.click("#action-apply-commit")
            poll(lambda: farm.recorded() == second or None, what="the click to apply the commit")
            assert farm.on_engines() == {app: on("h2")} and farm.head() == second
            panel.get_by_text(f"At {second[:10]} by Ann Example").wait_for()
