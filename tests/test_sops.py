"""SOPS secrets (``sops.py``): the values reach a command's environment over stdin only,
the real ``sops``/``age`` read and write the file, cf reads the project as Compose does
with those values in its environment, and every value is masked."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from compose_farm.executor import Command, Event, Script
from compose_farm.executor.fake import ScriptedExecutor
from compose_farm.operations.lifecycle import Operations
from compose_farm.operations.preflight import PROGRAM as PREFLIGHT
from compose_farm.secrets import Secrets
from compose_farm.sops import (
    LOADER,
    SopsError,
    SopsValues,
    check_text,
    decrypt_text,
    encrypt_new,
    parse_values,
    reencrypt,
    sops_path,
    value_problem,
    with_secrets,
)
from compose_farm.state import StateStore
from tests.compose_corpus.oracle import (
    cf_reading,
    compose_binary,
    compose_reading,
    disagreement,
    environ_for,
)
from tests.support.config import make_config
from tests.support.procs import pids_where
from tests.support.waiting import eventually

VENV_BIN = str(Path(sys.executable).parent)
HOSTILE = {
    "QUOTES": "it's \"quoted\" 'twice'",
    "NEWLINES": "line one\nline two\n\nend\n",
    "SUBST": "$(touch PWNED) ${HOME} $HOME",
    "TICKS": "`touch PWNED`; touch PWNED",
    "BACKSLASH": "a\\b\\\\c\\n\\'",
    "DASH": "-e --help",
    "GLOB": "* ? [a-z]",
    "UNICODE": "pässwörd ✓",
    "EMPTY": "",
    "LONG": "x" * 100_000 + "'\n$(y)",
}
PRINT_ENV = ("python3", "-c", "import json, os; print(json.dumps(dict(os.environ)))")


def tools() -> dict[str, str]:
    """The real ``sops`` and ``age-keygen``: required under CI, skipped otherwise."""
    path = f"{VENV_BIN}:{os.environ.get('PATH', '')}"
    found = {name: shutil.which(name, path=path) for name in ("sops", "age-keygen")}
    missing = [name for name, where in found.items() if where is None]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing} missing: run scripts/install-deps.sh", pytrace=False)
        pytest.skip(f"{missing} not installed")
    return {name: str(where) for name, where in found.items()}


def age_key(folder: Path) -> tuple[Path, str]:
    """A new age key file and its public recipient."""
    keygen = tools()["age-keygen"]
    key = folder / "keys.txt"
    subprocess.run([keygen, "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run([keygen, "-y", str(key)], check=True, capture_output=True, text=True)
    return key, public.stdout.strip()


def sops_env(home: Path, key: Path | None) -> dict[str, str]:
    """A clean environment for sops: our PATH, a fresh HOME, the key file when given."""
    environ = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "HOME": str(home)}
    if key is not None:
        environ["SOPS_AGE_KEY_FILE"] = str(key)
    return environ


# ------------------------------------------------------------------ the loader


def run_wrapped(
    command: Command | Script, values: dict[str, str], path: str | None = None
) -> dict[str, str]:
    """Run the wrapped command with ``sh`` (found on ``path``); its environment."""
    wrapped = with_secrets(command, values, watch=False)
    line = wrapped.script.shell()
    for value in values.values():
        if len(value) >= 4:
            assert value not in line, "a value is in the command line"
    environ = {**os.environ, "PATH": path or os.environ["PATH"]}
    done = subprocess.run(
        ["sh", "-c", line],
        input=wrapped.stdin,
        capture_output=True,
        text=True,
        check=False,
        env=environ,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("sh", ["sh", "busybox"])
def test_hostile_values_reach_the_command_exactly_and_run_nothing(sh: str, tmp_path: Path) -> None:
    path = None
    if sh == "busybox":  # the `sh` of small hosts (every `sh` the loader starts is busybox)
        busybox = shutil.which("busybox")
        if busybox is None:
            pytest.skip("busybox not installed")
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "sh").symlink_to(busybox)
        path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    seen = run_wrapped(Command(PRINT_ENV, cwd=PurePosixPath(tmp_path)), HOSTILE, path)
    assert {name: seen.get(name) for name in HOSTILE} == HOSTILE
    assert not (tmp_path / "PWNED").exists()
    assert not Path("PWNED").exists()


def test_the_command_runs_in_its_folder_with_its_own_env(tmp_path: Path) -> None:
    cwd = (
        "python3",
        "-c",
        "import json, os; print(json.dumps({'PWD': os.getcwd(), **os.environ}))",
    )
    seen = run_wrapped(
        Command(cwd, cwd=PurePosixPath(tmp_path), env={"EXTRA": "1"}), {"TOKEN": "abc'd"}
    )
    assert (seen["PWD"], seen["EXTRA"], seen["TOKEN"]) == (str(tmp_path), "1", "abc'd")


def test_a_script_gets_the_values_too() -> None:
    """The start's preflight script (which ends in `docker compose up`) is wrapped whole."""
    folder = PurePosixPath("/")
    script = Script(PREFLIGHT, (f"s:{folder}", "--", *PRINT_ENV))
    wrapped = with_secrets(script, {"DB_PASSWORD": "s3cr3t $(x)"}, watch=False)
    assert wrapped.script.program == LOADER
    done = subprocess.run(
        ["sh", "-c", wrapped.script.shell()],
        input=wrapped.stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    # no compose file in /: the preflight says so and stops (97) before the command
    assert done.returncode == 97, done.stderr
    assert "missing compose /" in done.stdout


def test_watched_the_command_gets_the_values_and_stops_when_cf_hangs_up(tmp_path: Path) -> None:
    """Remote runs keep the channel's input open after the values: closing it (cf hung up,
    Ctrl-C) stops the command, as for every other remote command."""
    marker = f"sleep-{os.getpid()}"
    program = f"echo $TOKEN; exec -a {marker} sleep 600"
    wrapped = with_secrets(Command(("bash", "-c", program)), {"TOKEN": "tok'en"}, watch=True)
    assert wrapped.script.keep_stdin_open
    proc = subprocess.Popen(
        ["sh", "-c", wrapped.script.shell()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(wrapped.stdin)
    proc.stdin.flush()
    try:
        assert proc.stdout.readline() == "tok'en\n"  # started, with the value
        # `exec` comes after the echo: wait for it, never assume it happened already
        assert eventually(lambda: pids_named(marker), timeout=60)
        proc.stdin.close()  # the hang-up
        assert proc.wait(timeout=60) != 0
        assert eventually(lambda: not pids_named(marker), timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)


def pids_named(name: str) -> list[int]:
    return pids_where(lambda argv, _cwd: argv[0] == name.encode())


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("A.B", "x", "not a variable name"),
        ("1A", "x", "not a variable name"),
        ("A B", "x", "not a variable name"),
        ("A;id", "x", "not a variable name"),
        ("A", "x\0y", "NUL"),
        ("A", "x" * 140_000, "longer"),
    ],
)
def test_what_no_environment_can_carry_is_refused(name: str, value: str, problem: str) -> None:
    found = value_problem(name, value)
    assert found is not None and problem in found
    with pytest.raises(SopsError, match=problem):
        with_secrets(Command(("true",)), {name: value}, watch=False)


def test_sops_output_is_read_as_json() -> None:
    assert parse_values('{"A": "x", "B": "\\n"}', "w") == {"A": "x", "B": "\n"}
    for bad in ("not json", '["A"]', '{"A": {"b": 1}}', '{"a-b": "x"}'):
        with pytest.raises(SopsError, match=r"^w: "):
            parse_values(bad, "w")


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("A=1\n# note\n\nB=two words = ok\n", []),
        ("A=1\nnonsense\n", ["line 2: not NAME=value"]),
        (" A=1\n", ["line 1: ' A' is not a variable name"]),
        ("export A=1\n", ["line 1: 'export A' is not a variable name"]),
        ("A=1\nA=2\n", ["line 2: A is set twice"]),
    ],
)
def test_edited_text_is_checked_line_by_line(text: str, problems: list[str]) -> None:
    found = check_text(text)
    assert len(found) == len(problems)
    for got, want in zip(found, problems, strict=True):
        assert got.startswith(want)


# ------------------------------------------------------------------ the real sops


def stack_with_secrets(tmp_path: Path, plain: str, recipients: str) -> tuple[Path, dict[str, str]]:
    """A farm with stack ``app`` (compose + .env.sops), its config path, sops's environment."""
    tools()
    compose = "services:\n  app:\n    image: x\n    environment:\n      P: ${DB_PASSWORD:?}\n"
    config = make_config(tmp_path, compose={"app": compose})
    path = sops_path(config, "app")
    key = tmp_path / "keys.txt"
    environ = sops_env(tmp_path, key)
    encrypt_new(path, plain, recipients, "app", environ)
    return path, environ


def test_values_are_what_sops_reads(tmp_path: Path) -> None:
    key, public = age_key(tmp_path)
    assert key == tmp_path / "keys.txt"
    plain = "DB_PASSWORD=pa$$word 'x' #no comment\nML=one\\ntwo\nEMPTY=\n"
    path, environ = stack_with_secrets(tmp_path, plain, public)
    assert "pa$$word" not in path.read_text()  # encrypted at rest
    config = make_config(tmp_path, compose={"app": "services: {app: {image: x}}\n"})
    values = SopsValues(config, environ).of("app")
    assert values == {"DB_PASSWORD": "pa$$word 'x' #no comment", "ML": "one\ntwo", "EMPTY": ""}


def test_a_wrong_key_no_key_or_no_sops_is_a_clear_error(tmp_path: Path) -> None:
    _key, public = age_key(tmp_path)
    path, environ = stack_with_secrets(tmp_path, "DB_PASSWORD=hunter22\n", public)
    config = make_config(tmp_path, compose={"app": "services: {app: {image: x}}\n"})
    (tmp_path / "other").mkdir()
    other, _ = age_key(tmp_path / "other")
    cases = {
        "wrong key": {**environ, "SOPS_AGE_KEY_FILE": str(other)},
        "no key": sops_env(tmp_path / "other", None),
        "no sops": {**environ, "PATH": str(tmp_path / "nothing")},
    }
    for why, env in cases.items():
        with pytest.raises(SopsError) as caught:
            SopsValues(config, env).of("app")
        message = caught.value.message
        assert "'app'" in message and str(path) in message, (why, message)
        assert "hunter22" not in message
    assert "not installed" in str(caught.value)


def test_a_file_that_is_not_encrypted_is_refused_without_quoting_it(tmp_path: Path) -> None:
    tools()
    config = make_config(tmp_path, compose={"app": "services: {app: {image: x}}\n"})
    sops_path(config, "app").write_text("PASSWORD_LINE_WITHOUT_EQUALS_hunter22\n")
    with pytest.raises(SopsError) as caught:
        SopsValues(config, sops_env(tmp_path, None)).of("app")
    assert "hunter22" not in caught.value.message


def test_reencrypting_keeps_every_recipient(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    key_a, public_a = age_key(tmp_path / "a")
    key_b, public_b = age_key(tmp_path / "b")
    path, environ = stack_with_secrets(tmp_path, "DB_PASSWORD=first\n", f"{public_a},{public_b}")
    env_a = {**environ, "SOPS_AGE_KEY_FILE": str(key_a)}

    changed = reencrypt(path, "DB_PASSWORD=second\nNEW=1\n", "app", env_a)

    assert changed
    assert "second" not in path.read_text()
    for key in (key_a, key_b):
        text = decrypt_text(path, "app", {**environ, "SOPS_AGE_KEY_FILE": str(key)})
        assert text == "DB_PASSWORD=second\nNEW=1\n"
    assert reencrypt(path, "DB_PASSWORD=second\nNEW=1\n", "app", env_a) is False
    with pytest.raises(SopsError, match="not NAME=value"):
        reencrypt(path, "oops\n", "app", env_a)
    assert decrypt_text(path, "app", env_a) == "DB_PASSWORD=second\nNEW=1\n"


def test_sops_values_are_masked(tmp_path: Path) -> None:
    _key, public = age_key(tmp_path)
    _path, environ = stack_with_secrets(
        tmp_path, "DB_PASSWORD=hunter22-pw\nCERT=line-one\\nline-two\n", public
    )
    config = make_config(tmp_path, compose={"app": "services: {app: {image: x}}\n"})
    secrets = Secrets(config, environ)
    assert secrets.mask("app", "pw hunter22-pw") == "pw ***"
    assert secrets.mask(None, "cert line-two") == "cert ***"


# ------------------------------------------------------------------ reading as Compose does


def test_cf_reads_the_project_as_compose_does_with_the_values_in_its_environment(
    tmp_path: Path,
) -> None:
    """The host's Compose gets the values as process variables: they win over ``.env``,
    fill ``${X:?}``, and interpolate into ``.env`` values that use them."""
    docker = compose_binary()
    _key, public = age_key(tmp_path)
    compose = (
        "services:\n  app:\n    image: busybox:${TAG:-1}\n"
        "    environment:\n      P: ${DB_PASSWORD:?set it}\n      U: ${DB_URL}\n"
        "      D: ${FROM_DOTENV}\n      Q: $${DB_PASSWORD}\n"
        "    ports: ['${PORT}:80']\n"
    )
    config = make_config(tmp_path, compose={"app": compose})
    folder = Path(str(config.stack_dir("app")))
    (folder / ".env").write_text(
        "DB_PASSWORD=from-dotenv\nFROM_DOTENV=kept\nDB_URL=db://u:${DB_PASSWORD}@db\n"
    )
    plain = "DB_PASSWORD=it's $(sops)\nPORT=8088\nTAG=1.36\n"
    path = sops_path(config, "app")
    home = tmp_path / "home"
    home.mkdir()
    environ = environ_for(home, {"SOPS_AGE_KEY_FILE": str(tmp_path / "keys.txt")})
    environ["PATH"] = f"{VENV_BIN}:{environ['PATH']}"
    encrypt_new(path, plain, public, "app", environ)
    values = SopsValues(config, environ)

    ours = cf_reading(folder, values.environ_of("app"))
    theirs = compose_reading(docker, folder, {**environ, **values.of("app")})

    assert ours.error is None, ours.error
    assert disagreement(theirs, ours) is None, disagreement(theirs, ours)
    without = cf_reading(folder, environ)
    assert without.view != ours.view  # the values did change the reading


# ------------------------------------------------------------------ operations


def test_up_hands_the_values_over_stdin_and_a_bad_file_starts_nothing(tmp_path: Path) -> None:
    _key, public = age_key(tmp_path)
    compose = "services:\n  app:\n    image: x\n    environment:\n      P: ${DB_PASSWORD:?}\n"
    config = make_config(tmp_path, compose={"app": compose}, hosts=["h1"], stacks={"app": "h1"})
    path = sops_path(config, "app")
    environ = sops_env(tmp_path, tmp_path / "keys.txt")
    encrypt_new(path, "DB_PASSWORD=hunter22-pw\n", public, "app", environ)
    fake = ScriptedExecutor()
    fake.on("h1", program=LOADER)
    events: list[Event] = []
    ops = Operations(config, fake, StateStore(config.state_path), events.append, environ)

    [outcome] = asyncio.run(ops.up(["app"]))

    assert outcome.ok, outcome
    [call] = fake.calls
    assert isinstance(call.command, Script)
    assert "hunter22-pw" not in call.command.shell()
    end, hang_up, line = call.command.args
    assert call.stdin == f"export DB_PASSWORD=hunter22-pw\n{end}\n"
    assert line.endswith(" -- docker compose up -d")  # the preflight, then `up`
    assert hang_up and call.command.keep_stdin_open  # h1 is remote: watched for a hang-up

    # the same stack, its file now unreadable here: no command runs, the error names it
    fake = ScriptedExecutor()
    broken = {**environ, "SOPS_AGE_KEY_FILE": str(tmp_path / "missing.txt")}
    ops = Operations(config, fake, StateStore(config.state_path), events.append, broken)
    [outcome] = asyncio.run(ops.up(["app"]))
    assert not outcome.ok
    assert str(path) in outcome.message and "'app'" in outcome.message
    assert fake.calls == []


# ------------------------------------------------------------------ the web panel


def test_web_panel_hides_values_reveals_on_purpose_and_saves_encrypted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.web import context_of, csrf_of, template_of, web_client

    _key, public = age_key(tmp_path)
    config = make_config(
        tmp_path,
        compose={"app": "services: {app: {image: x}}\n", "plain": "services: {a: {image: x}}\n"},
    )
    path = sops_path(config, "app")
    environ = {**sops_env(tmp_path, tmp_path / "keys.txt"), "XDG_STATE_HOME": str(tmp_path)}
    encrypt_new(path, "# db\nDB_PASSWORD=hunter22-pw\nTOKEN=tok-tok-tok\n", public, "app", environ)
    config_path = tmp_path / "compose-farm.yaml"
    caplog.set_level("INFO", logger="compose_farm.web")

    with web_client(config_path, environ) as client:
        csrf = csrf_of(client)
        assert client.get("/stack/plain/secrets").text == ""  # no file: no panel
        panel = client.get("/stack/app/secrets")
        assert template_of(panel) == "partials/secrets.html"
        assert context_of(panel)["names"] == ["DB_PASSWORD", "TOKEN"]
        assert "hunter22-pw" not in panel.text

        headers = {"X-CSRF-Token": csrf}
        refused = client.post("/api/stack/app/secrets/reveal", json={})
        assert refused.status_code == 403  # no CSRF token: no value
        one = client.post("/api/stack/app/secrets/reveal", json={"name": "TOKEN"}, headers=headers)
        assert one.json() == {"values": {"TOKEN": "tok-tok-tok"}}
        assert one.headers["cache-control"] == "no-store"
        bad = client.post("/api/stack/../secrets/reveal", json={}, headers=headers)
        assert bad.status_code in (400, 404)

        changes = {"values": {"DB_PASSWORD": "new-pw-value", "NEW": "line\nbreak"}, "remove": []}
        saved = client.post("/api/stack/app/secrets/save", json=changes, headers=headers)
        assert saved.status_code == 200, saved.text
        refused = client.post(
            "/api/stack/app/secrets/save", json={"values": {"a-b": "x"}}, headers=headers
        )
        assert refused.status_code == 400 and "not a variable name" in refused.text
        removed = client.post(
            "/api/stack/app/secrets/save", json={"remove": ["TOKEN"]}, headers=headers
        )
        assert removed.status_code == 200, removed.text
        every = client.post("/api/stack/app/secrets/reveal", json={}, headers=headers).json()
        masked = client.get("/stack/app/secrets").text

    assert every == {"values": {"DB_PASSWORD": "new-pw-value", "NEW": "line\nbreak"}}
    assert "new-pw-value" not in path.read_text()
    assert decrypt_text(path, "app", environ).startswith("# db\n")  # comments kept
    assert "new-pw-value" not in masked
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "revealed secrets of app: TOKEN" in logged
    for value in ("hunter22-pw", "tok-tok-tok", "new-pw-value"):
        assert value not in logged
    # the old values (the kept, still encrypted, copies) stay masked
    secrets = Secrets(config, environ)
    assert secrets.mask("app", "hunter22-pw new-pw-value") == "*** ***"


# ------------------------------------------------------------------ cf secrets edit


EDITOR = """\
#!/bin/sh
# records the modes of the plaintext and its folder, then acts as $MODE says
stat -c '%a' "$1" "$(dirname "$1")" > "$RECORD"
case $MODE in
  change) sed -i 's/first-secret/second-secret/' "$1" ;;
  broken) echo 'not a line sops reads' >> "$1" ;;
  fail) exit 3 ;;
  interrupt) kill -INT "$PPID"; sleep 5 ;;
esac
"""


@pytest.mark.parametrize("mode", ["change", "broken", "fail", "interrupt"])
def test_edit_keeps_the_plaintext_private_and_leaves_none(tmp_path: Path, mode: str) -> None:
    from tests.support.cf import run_cf

    _key, public = age_key(tmp_path)
    config = make_config(tmp_path, compose={"app": "services: {app: {image: x}}\n"})
    path = sops_path(config, "app")
    environ = sops_env(tmp_path, tmp_path / "keys.txt")
    encrypt_new(path, "DB_PASSWORD=first-secret\n", public, "app", environ)
    before = path.read_text()
    editor = tmp_path / "editor.sh"
    editor.write_text(EDITOR)
    editor.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    record = tmp_path / "record"
    env = {
        **environ,
        "EDITOR": str(editor),
        "TMPDIR": str(temp),
        "MODE": mode,
        "RECORD": str(record),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CF_CONFIG": str(tmp_path / "compose-farm.yaml"),
    }

    done = run_cf("secrets", "edit", "app", base=env, timeout=120)

    assert record.read_text().split() == ["600", "700"]
    assert list(temp.iterdir()) == [], "plaintext left behind"
    assert "first-secret" not in done.output and "second-secret" not in done.output
    assert "Traceback" not in done.output
    if mode == "change":
        assert done.returncode == 0, done
        assert decrypt_text(path, "app", environ) == "DB_PASSWORD=second-secret\n"
        kept = list((tmp_path / "state" / "compose-farm" / "backups" / "app").iterdir())
        assert [k.read_text() for k in kept] == [before]  # the old file, still encrypted
    else:
        assert done.returncode != 0, done
        assert path.read_text() == before
    if mode == "broken":
        assert "line 2: not NAME=value" in done.output
