"""Shell completion: the names (config, cache, services), Typer's parsing of the line through
the real ``cf``, and the scripts Typer installs, run by real bash, zsh and fish."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from compose_farm.cli.completion import config_path, read_farm, read_services
from compose_farm.config import find_config
from compose_farm.errors import ConfigError
from tests.support.cf import run_cf
from tests.support.config import write_config

HOSTS = {"nuc": "192.168.1.10", "hp": "192.168.1.11", "pi": "192.168.1.12"}
STACKS = {"plex": "nuc", "sonarr": "hp", "dozzle": "all", "web": ["nuc", "hp"]}
COMPOSE = {
    "plex": "services:\n  plex: {image: plex}\n  transcoder: {image: tc}\n",
    "sonarr": "services:\n  sonarr: {image: sonarr}\n",
    "dozzle": "services:\n  dozzle: {image: dozzle}\n",
    "web": "services:\n  app: {image: app}\n  db: {image: db}\n",
}
OVERRIDE = "services:\n  cache: {image: redis}\n"
BIN = str(Path(sys.executable).parent)  # the venv's `cf`, which the shells' scripts run


@pytest.fixture
def farm(tmp_path: Path) -> Path:
    """A lab-free farm: its config, and a compose folder on this machine."""
    config = write_config(tmp_path / "farm", hosts=HOSTS, stacks=STACKS, compose=COMPOSE)
    (tmp_path / "farm" / "stacks" / "web" / "compose.override.yaml").write_text(OVERRIDE)
    return config


@pytest.fixture
def env(tmp_path: Path, farm: Path) -> dict[str, str]:
    """cf's environment: the farm's config, a private cache and home, the venv on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "CF_CONFIG": str(farm),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),  # where fish looks; Typer writes in HOME
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }


# The names -----------------------------------------------------------------------


def _cf_would_read(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    try:
        path = find_config(explicit, environ)
    except ConfigError:
        return None
    return path if path.exists() else None


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("explicit", "explicit.yaml"),
        ("env", "env.yaml"),
        ("cwd-and-xdg", "cwd/compose-farm.yaml"),
        ("xdg", "xdg/compose-farm/compose-farm.yaml"),
        ("home", "home/.config/compose-farm/compose-farm.yaml"),
        ("explicit-missing", None),
        ("none", None),
    ],
)
def test_the_config_is_the_one_cf_would_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, expected: str | None
) -> None:
    for name in (
        "explicit.yaml",
        "env.yaml",
        "cwd/compose-farm.yaml",
        "xdg/compose-farm/compose-farm.yaml",
        "home/.config/compose-farm/compose-farm.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("hosts: {}\n")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / ("cwd" if case == "cwd-and-xdg" else "empty"))
    environ = {"HOME": str(tmp_path / "home")}
    if case in ("cwd-and-xdg", "xdg"):
        environ["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    if case == "env":
        environ["CF_CONFIG"] = str(tmp_path / "env.yaml")
    if case == "none":
        environ["HOME"] = str(tmp_path / "empty")
    explicit = {"explicit": "explicit.yaml", "explicit-missing": "missing.yaml"}.get(case)
    if explicit is not None:
        explicit = str(tmp_path / explicit)
    found = config_path(explicit, environ)
    assert found == (None if expected is None else tmp_path / expected)
    assert found == _cf_would_read(explicit, environ)


def test_names_come_from_the_config_and_follow_its_changes(farm: Path, env: dict[str, str]) -> None:
    names = read_farm(None, env)
    assert names is not None
    assert names.stacks == {"plex": "nuc", "sonarr": "hp", "dozzle": "all", "web": "nuc, hp"}
    assert names.hosts == HOSTS
    assert names.compose_dir == str(farm.parent / "stacks")

    # Same file, same size, same modification time: the names kept are used, the
    # file is not read again (its new text would be refused).
    before = farm.stat()
    text = farm.read_text()
    with farm.open("r+") as handle:
        handle.write("x" * len(text))
    os.utime(farm, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert read_farm(None, env) == names

    # Changed: read again.
    farm.write_text(text.replace("stacks:\n", "stacks:\n  radarr: pi\n"))
    changed = read_farm(None, env)
    assert changed is not None
    assert list(changed.stacks) == ["radarr", *STACKS]


@pytest.mark.parametrize(
    "broken",
    ["not: [yaml", "unknown host", "empty", "missing", "folder", "fifo"],
)
def test_a_broken_or_missing_config_has_no_names(
    tmp_path: Path, env: dict[str, str], broken: str
) -> None:
    config = tmp_path / "broken.yaml"
    if broken == "unknown host":
        write_config(tmp_path, hosts=["h1"], stacks={"plex": "nowhere"})
        config = tmp_path / "compose-farm.yaml"
    elif broken == "folder":
        config.mkdir()
    elif broken == "fifo":
        os.mkfifo(config)  # reading it would wait for a writer: never read
    elif broken != "missing":
        config.write_text("" if broken == "empty" else broken)
    assert read_farm(str(config), env) is None
    assert read_farm(str(config), env) is None  # and again, from what was kept


def test_services_come_from_the_stacks_compose_project(farm: Path, env: dict[str, str]) -> None:
    names = read_farm(None, env)
    assert names is not None
    assert read_services(names, "web", env) == ["app", "db", "cache"]  # with the override
    assert read_services(names, "plex", env) == ["plex", "transcoder"]
    assert read_services(names, "unknown", env) == []
    assert read_services(names, "../web", env) == []

    stacks = farm.parent / "stacks"
    (stacks / "web" / "compose.override.yaml").unlink()
    assert read_services(names, "web", env) == ["app", "db"]
    (stacks / "web" / "compose.yaml").write_text(
        "services:\n  app: {image: app}\n  debug: {image: d, profiles: [debug]}\n"
    )
    assert read_services(names, "web", env) == ["app"]
    assert read_services(names, "web", {**env, "COMPOSE_PROFILES": "debug"}) == ["app", "debug"]

    (stacks / "plex" / "compose.yaml").write_text("services: [not, a, mapping]\n")
    assert read_services(names, "plex", env) == []
    shutil.rmtree(stacks / "sonarr")  # compose_dir not mounted here
    assert read_services(names, "sonarr", env) == []
    os.mkfifo(stacks / "dozzle" / ".env")  # would block the read: not read
    assert read_services(names, "dozzle", env) == []


# The real `cf`, through Typer's parsing --------------------------------------------


def _bash_request(line: str) -> dict[str, str]:
    """The variables Typer's bash script sets for ``line``, the cursor at its end."""
    words = line.split(" ")
    return {
        "_CF_COMPLETE": "complete_bash",
        "COMP_WORDS": "\n".join(words),
        "COMP_CWORD": str(len(words) - 1),
    }


def complete_bash(line: str, env: Mapping[str, str]) -> list[str]:
    """What ``cf`` answers bash for ``line`` (the cursor at its end), as Typer's script asks."""
    done = run_cf(env={**env, **_bash_request(line)})
    assert done.returncode == 0, done
    assert done.stderr == "", done
    return done.stdout.split()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("cf u", ["up", "update"]),
        ("cf up", ["up", "update"]),  # the word under the cursor is not yet the command
        ("cf ssh s", ["setup", "status"]),
        ("cf config ", ["init", "path", "show", "validate", "edit", "symlink"]),
        ("cf up --p", ["--pull", "--prune-data"]),
        ("cf -v up --p", ["--pull", "--prune-data"]),
        ("cf up --pull m", ["missing"]),
        ("cf up s", ["sonarr"]),
        ("cf up plex ", ["sonarr", "dozzle", "web"]),
        ("cf down --all --host ", ["nuc", "hp", "pi"]),
        ("cf ps -H p", ["pi"]),
        ("cf logs web -s ", ["app", "db", "cache"]),
        ("cf logs web -s db -s ", ["app", "cache"]),
        ("cf up plex web --service ", ["plex", "transcoder", "app", "db", "cache"]),
        ("cf rollback plex -s t", ["transcoder"]),
        ("cf logs -s ", []),
        ("cf compose p", ["plex"]),
        ("cf check d", ["dozzle"]),
        ("cf traefik-file w", ["web"]),
        ("cf init-network nuc ", ["hp", "pi"]),
        ("cf ssh trust p", ["pi"]),
    ],
)
def test_cf_completes(line: str, expected: list[str], env: dict[str, str]) -> None:
    assert complete_bash(line, env) == expected


def test_the_config_named_on_the_line_is_the_one_read(tmp_path: Path, env: dict[str, str]) -> None:
    other = write_config(tmp_path / "other", hosts=["h1"], stacks={"grafana": "h1"})
    assert complete_bash(f"cf up -c {other} ", env) == ["grafana"]
    assert complete_bash(f"cf up --config {other} --host ", env) == ["h1"]


@pytest.mark.parametrize("broken", ["not: [yaml", "fifo", "missing"])
def test_a_broken_config_completes_nothing_silently(
    tmp_path: Path, env: dict[str, str], broken: str
) -> None:
    config = tmp_path / "broken.yaml"
    if broken == "fifo":
        os.mkfifo(config)
    elif broken != "missing":
        config.write_text(broken)
    env = {**env, "CF_CONFIG": str(config)}
    assert complete_bash("cf up ", env) == []  # complete_bash: no output on stderr either
    assert complete_bash("cf logs plex -s ", env) == []
    assert complete_bash("cf ps --host ", env) == []
    assert complete_bash("cf u", env) == ["up", "update"]


def test_help_that_is_not_plain_text_is_left_out(tmp_path: Path, env: dict[str, str]) -> None:
    """zsh evaluates what cf prints: an address is shown beside its host only when plain."""
    config = write_config(tmp_path / "odd", hosts={"odd": "x$(touch${IFS}pwned)", "ok": "::1"})
    done = run_cf(
        env={
            **env,
            "CF_CONFIG": str(config),
            "_CF_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": "cf ps --host ",
        }
    )
    assert done.returncode == 0, done
    assert done.stdout == '_arguments \'*: :(("odd"\n"ok":"\\\\:\\\\:1"))\'\n', done


_WATCH = """
import atexit, sys
def report():
    libraries = {m.split(".")[0] for m in sys.modules} & {"pydantic", "ruamel", "yaml", "rich"}
    print(",".join(sorted(libraries)), file=sys.stderr)
atexit.register(report)
sys.argv = ["cf"]
from compose_farm.cli.app import main
main()
"""


def test_a_tab_imports_neither_pydantic_nor_yaml_nor_rich_once_the_names_are_kept(
    env: dict[str, str],
) -> None:
    """The budget (bench/completion.py): any of these libraries alone would exceed it."""

    def libraries(request: dict[str, str]) -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", _WATCH],
            env={**os.environ, **env, **request},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done
        return done.stdout, done.stderr.strip()

    # The first TAB reads the config and the project, and keeps the names.
    answer, imported = libraries(_bash_request("cf logs web -s "))
    assert answer.split() == ["app", "db", "cache"]
    assert "pydantic" in imported and "ruamel" in imported
    zsh = {"_CF_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "cf up "}
    fish = {
        "_CF_COMPLETE": "complete_fish",
        "_TYPER_COMPLETE_ARGS": "cf ps --host ",
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
    }
    for request, expected in [
        (_bash_request("cf logs web -s "), "app\ndb\ncache\n"),
        (_bash_request("cf up p"), "plex\n"),
        (_bash_request("cf up --pull "), "always\nmissing\nnever\nbuild\n"),
        (zsh, '"plex":"nuc"\n"sonarr":"hp"\n"dozzle":"all"\n"web":"nuc, hp"'),
        (fish, "nuc\t192.168.1.10\nhp\t192.168.1.11\npi\t192.168.1.12\n"),
        ({"_CF_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "cf u"}, '"up":"Start'),
    ]:
        answer, imported = libraries(request)
        assert expected in answer, (request, answer)
        assert imported == "", request


# Real shells, with the scripts Typer installs ------------------------------------------


def _shell(argv: list[str], env: Mapping[str, str]) -> str:
    """Run a shell (its startup files are the test's HOME's: no ``ZDOTDIR``); its stdout."""
    done = subprocess.run(
        argv,
        env={**{k: v for k, v in os.environ.items() if k != "ZDOTDIR"}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr, done
    return done.stdout


def _needs(shell: str) -> str:
    found = shutil.which(shell)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":  # installed by scripts/install-deps.sh
            pytest.fail(f"{shell} is not installed", pytrace=False)
        pytest.skip(f"{shell} is not installed (scripts/install-deps.sh installs it)")
    return found


BASH_CASES = """
run() {
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
    "$func" cf "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\\n' "== $*" "${COMPREPLY[@]}"
}
run cf u
run cf up --p
run cf up s
run cf ps --host ''
run cf logs web -s ''
"""


def _bash_replies(output: str) -> dict[str, list[str]]:
    replies: dict[str, list[str]] = {}
    for block in output.split("== ")[1:]:
        line, *words = block.strip("\n").split("\n")
        replies[line.strip()] = words
    return replies


def test_bash_completes_with_the_script_cf_shows(tmp_path: Path, env: dict[str, str]) -> None:
    bash = _needs("bash")
    script = tmp_path / "cf.bash"
    # Typer detects the shell cf runs in: run it from bash (`; :` keeps bash from exec-ing it)
    script.write_text(_shell([bash, "--norc", "-c", "cf --show-completion; :"], env))
    spec = _shell([bash, "--norc", "-c", f"source {script}; complete -p cf"], env)
    assert re.fullmatch(r"complete -o default -F (\S+) cf\n", spec), spec
    func = spec.split()[-2]
    output = _shell([bash, "--norc", "-c", f"source {script}; func={func}\n{BASH_CASES}"], env)
    assert _bash_replies(output) == {
        "cf u": ["up", "update"],
        "cf up --p": ["--pull", "--prune-data"],
        "cf up s": ["sonarr"],
        "cf ps --host": ["nuc", "hp", "pi"],
        "cf logs web -s": ["app", "db", "cache"],
    }


def test_bash_completes_after_install_completion(env: dict[str, str]) -> None:
    bash = _needs("bash")
    said = _shell([bash, "--norc", "-c", "cf --install-completion; :"], env)
    assert "bash completion installed" in said
    bashrc = Path(env["HOME"]) / ".bashrc"
    assert "source " in bashrc.read_text()
    output = _shell(
        [bash, "--norc", "-c", f"source {bashrc}; func=_cf_completion\n{BASH_CASES}"], env
    )
    assert _bash_replies(output)["cf up s"] == ["sonarr"]
    spec = _shell([bash, "--norc", "-c", f"source {bashrc}; complete -p cf"], env)
    assert "-F _cf_completion cf" in spec


def test_fish_completes_after_install_completion(env: dict[str, str]) -> None:
    fish = _needs("fish")
    said = _shell([fish, "--no-config", "-c", "cf --install-completion"], env)
    assert "fish completion installed" in said
    # Debian's fish has a `cf` completion of its own (Cloud Foundry's): ours, in the
    # user's folder, comes first.
    asked = "; ".join(
        f"complete --do-complete {json.dumps(line)}; echo =="
        for line in ("cf up s", "cf ps --host ", "cf logs web -s ", "cf u")
    )
    output = _shell([fish, "-c", asked], env)
    up_s, host, service, command, _ = output.split("==\n")
    assert up_s == "sonarr\thp\n"
    assert host == "hp\t192.168.1.11\nnuc\t192.168.1.10\npi\t192.168.1.12\n"  # sorted
    assert service.split() == ["app", "cache", "db"]
    assert [line.split("\t")[0] for line in command.splitlines()] == ["up", "update"]


# An interactive zsh in a pseudo-terminal (zsh's own zpty): for each (line, word), type
# the line and one TAB, then read the terminal until the word the completion inserts
# shows (a wrong answer never does: the subprocess's timeout ends the test), and clear
# the line.
ZPTY = """
zmodload zsh/zpty
zpty z 'zsh -i'
zpty -w z 'PS1="READY> "'
zpty -r z out '*READY> *'
while (( $# )); do
  zpty -n -w z "$1"$'\\t'
  zpty -r z out "*$2*"
  print -r -- "$1 => $2"
  zpty -n -w z $'\\C-u'
  shift 2
done
zpty -d z
"""


def test_zsh_completes_from_the_first_tab_after_install_completion(env: dict[str, str]) -> None:
    zsh = _needs("zsh")
    said = _shell([zsh, "-f", "-c", "cf --install-completion; :"], env)
    assert "zsh completion installed" in said
    assert "compinit" in (Path(env["HOME"]) / ".zshrc").read_text()
    cases = [
        ("cf logs web -s ca", "cache"),  # the first TAB of the shell (Typer's: nothing)
        ("cf up so", "sonarr"),
        ("cf ps --host n", "nuc"),
        ("cf rest", "restart"),
        ("cf up --pull mi", "missing"),
    ]
    words = [w for case in cases for w in case]
    output = _shell([zsh, "-f", "-c", ZPTY, "zpty", *words], env)
    assert output.splitlines() == [f"{line} => {word}" for line, word in cases]


# The answers kept for TABs that never depend on the farm (cli/quickcomplete.py) ----------


def test_a_tab_asked_again_is_answered_without_typer_until_its_sources_change(
    tmp_path: Path, farm: Path, env: dict[str, str]
) -> None:
    # a `typer` that cannot be imported: only a kept answer can answer now
    broken = tmp_path / "no-typer"
    (broken / "typer").mkdir(parents=True)
    (broken / "typer" / "__init__.py").write_text("raise ImportError('typer is gone')\n")
    without_typer = {**env, "PYTHONPATH": str(broken)}
    kept = tmp_path / "cache" / "compose-farm" / "completion"

    def again(line: str) -> list[str] | None:
        """The kept answer to ``line``; ``None`` when cf had to ask Typer (and could not)."""
        done = run_cf(env={**without_typer, **_bash_request(line)})
        if done.returncode != 0:
            assert "typer is gone" in done.stderr, done
            return None
        return done.stdout.split()

    for line in ("cf u", "cf up --p", "cf --", "cf up w", "cf logs web -s "):
        first = complete_bash(line, env)
        assert first and again(line) == first, line
    assert all(p.stat().st_mode & 0o077 == 0 for p in kept.glob("answer-*"))

    # the config changes: the kept stack names are not used; Typer (gone) cannot answer
    farm.write_text(farm.read_text().replace("\n  web:", "\n  webby: nuc\n  web:", 1))
    assert again("cf up w") is None
    assert sorted(complete_bash("cf up w", env)) == ["web", "webby"]
    assert sorted(again("cf up w") or []) == ["web", "webby"]
    # a compose file of the stack changes: its kept services are not used
    compose = farm.parent / "stacks" / "web" / "compose.yaml"
    compose.write_text(compose.read_text() + "  extra:\n    image: busybox\n")
    assert again("cf logs web -s ") is None
    assert "extra" in complete_bash("cf logs web -s ", env)
    assert "extra" in (again("cf logs web -s ") or [])
    # another working folder is another request (it may hold another config)
    elsewhere = run_cf(env={**without_typer, **_bash_request("cf u")}, cwd=tmp_path)
    assert elsewhere.returncode != 0 and "typer is gone" in elsewhere.stderr


def test_a_kept_answer_is_not_used_once_cf_changed(tmp_path: Path, env: dict[str, str]) -> None:
    from compose_farm.cli import quickcomplete

    request = {**env, **_bash_request("cf u")}
    assert complete_bash("cf u", env)
    entry = quickcomplete.cache_entry(request)
    assert entry is not None and Path(entry[0]).is_file()

    stamp = quickcomplete._code_stamp()
    assert stamp[0] and any(isinstance(s, tuple) and s[0] == "root.py" for s in stamp)
    path = Path(entry[0])
    key, _, out = path.read_text().partition("\n")
    path.write_text(key.replace("'root.py'", "'root-renamed.py'") + "\n" + out)
    assert not quickcomplete.answer_from_cache(request)  # another cf: asked Typer again
