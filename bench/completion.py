"""How long a TAB takes: `cf` answering a shell's completion request, 200 stacks on 20 hosts.

Each case runs `cf` as Typer's scripts do on a TAB (`_CF_COMPLETE=complete_bash` with
`COMP_WORDS` and `COMP_CWORD`; `complete_zsh` and `complete_fish` with
`_TYPER_COMPLETE_ARGS`), checks the answer, and times it: "kept" with the answer to
that very line kept (`cli/quickcomplete.py`: the same TAB again, nothing changed),
"new line" with the names kept but not the answer (a prefix not typed before: Typer
answers from the names cache), "first" with an empty cache (the first TAB after the
config or the compose file changed). Wall time and the CPU time of the process (user + system;
steadier than wall time on a busy machine), median of the runs, next to
`python -c pass` and `cf --version`. The cases run in turn, round after round, so a
change in the machine's load during the run weighs on every row alike.

    python -m bench completion [--runs 21] [--stacks 200] [--hosts 20]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import compose_farm
from bench.table import print_table

TARGET_MS = 100
SERVICES = ("web", "db", "worker")


@dataclass(frozen=True)
class Case:
    """One request: the line typed so far, the shell asking, a word the answer must hold."""

    label: str
    line: str
    shell: str = "bash"
    expect: str = ""
    kept: bool = True  # False: the cache is emptied before each run
    answer: bool = True  # False: the kept answers (not the names) are removed before each run


def write_farm(folder: Path, stacks: int, hosts: int) -> Path:
    """A config of ``stacks`` stacks over ``hosts`` hosts, each stack with a compose file."""
    names = [f"host{i:02d}" for i in range(hosts)]
    lines = [f"compose_dir: {folder / 'stacks'}", "hosts:"]
    lines += [f"  {h}: 10.0.{i // 250}.{i % 250 + 1}" for i, h in enumerate(names)]
    lines.append("stacks:")
    for i in range(stacks):
        stack = f"app{i:03d}"
        lines.append(f"  {stack}: {names[i % hosts]}")
        (folder / "stacks" / stack).mkdir(parents=True)
        compose = "".join(f"  {s}:\n    image: {s}:1\n" for s in SERVICES)
        (folder / "stacks" / stack / "compose.yaml").write_text(f"services:\n{compose}")
    config = folder / "compose-farm.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def request_env(case: Case) -> dict[str, str]:
    """The variables Typer's script for ``case.shell`` sets (the cursor at the line's end)."""
    if case.shell == "bash":
        words = case.line.split(" ")
        return {
            "_CF_COMPLETE": "complete_bash",
            "COMP_WORDS": "\n".join(words),
            "COMP_CWORD": str(len(words) - 1),
        }
    extra = {"_TYPER_COMPLETE_FISH_ACTION": "get-args"} if case.shell == "fish" else {}
    return {"_CF_COMPLETE": f"complete_{case.shell}", "_TYPER_COMPLETE_ARGS": case.line, **extra}


def timed(argv: list[str], env: dict[str, str], expect: str) -> tuple[float, float]:
    """Wall and CPU seconds of one run; fails loudly unless its answer holds ``expect``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or expect not in done.stdout or done.stderr:
        raise RuntimeError(f"{argv} with {env.get('COMP_WORDS')!r}: {done}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


Runner = Callable[[], tuple[float, float]]


def interleaved(runners: list[Runner], runs: int) -> list[tuple[float, float]]:
    """Median wall and CPU milliseconds of each runner over ``runs`` rounds, after one
    untimed round; each round runs every runner once, so a machine whose load changes
    during the benchmark weighs on every row alike."""
    samples: list[list[tuple[float, float]]] = [[] for _ in runners]
    for round_ in range(runs + 1):
        for runner, kept in zip(runners, samples, strict=True):
            sample = runner()
            if round_:
                kept.append(sample)
    return [
        (
            statistics.median(s[0] for s in kept) * 1000,
            statistics.median(s[1] for s in kept) * 1000,
        )
        for kept in samples
    ]


def cases(stacks: int, hosts: int) -> list[Case]:
    """The requests timed: commands, an option, each kind of name, each shell, and cold ones."""
    last = f"app{stacks - 1:03d}"
    return [
        Case("command name", "cf u", expect="update"),
        Case("option", "cf up --p", expect="--prune-data"),
        Case("stack name", "cf up app0", expect="app001"),
        Case("host name", "cf ps --host host0", expect="host01" if hosts > 1 else "host00"),
        Case("service name", f"cf logs {last} -s ", expect="worker"),
        Case("stack name (zsh)", "cf up app0", shell="zsh", expect='"app001"'),
        Case("stack name (fish)", "cf up app0", shell="fish", expect="app001"),
        Case("stack name, new line", "cf up app0", expect="app001", answer=False),
        Case("service name, new line", f"cf logs {last} -s ", expect="worker", answer=False),
        Case("stack name, first TAB", "cf up app0", expect="app001", kept=False),
        Case("service name, first TAB", f"cf logs {last} -s ", expect="worker", kept=False),
    ]


def main(argv: list[str] | None = None) -> None:
    """Print the completion table."""
    parser = argparse.ArgumentParser(prog="python -m bench completion")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=20)
    options = parser.parse_args(argv or [])
    cf = shutil.which("cf") or sys.exit("cf is not on PATH: run scripts/bootstrap.sh first")
    # As installed (pip compiles the package): with PYTHONDONTWRITEBYTECODE set, or
    # sources newer than their bytecode, every run would compile them again.
    compileall.compile_dir(Path(compose_farm.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="cf-bench-completion-") as tmp:
        folder = Path(tmp)
        config = write_farm(folder / "farm", options.stacks, options.hosts)
        base = {**os.environ, "CF_CONFIG": str(config), "XDG_CACHE_HOME": str(folder / "kept")}
        cold = folder / "cold"  # the cache of the "first TAB" cases: emptied before each run
        labels: list[tuple[str, str]] = []
        runners: list[Runner] = []
        for label, command in [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("cf --version", [cf, "--version"]),
        ]:
            labels.append((label, ""))
            runners.append(partial(timed, command, base, ""))
        for case in cases(options.stacks, options.hosts):
            env = {**base, **request_env(case)}
            if not case.kept:
                env["XDG_CACHE_HOME"] = str(cold)
            elif not case.answer:  # a cache of their own: their answers go, the names stay
                env["XDG_CACHE_HOME"] = str(folder / "names")

            def run(case: Case = case, env: dict[str, str] = env) -> tuple[float, float]:
                if not case.kept:
                    shutil.rmtree(cold, ignore_errors=True)
                if not case.answer:
                    for answer in (folder / "names").glob("compose-farm/completion/answer-*"):
                        answer.unlink()
                return timed([cf], env, case.expect)

            labels.append((case.label, f"{case.line}<TAB>"))
            runners.append(run)
        results = interleaved(runners, options.runs)
    rows = [
        (label, line, f"{wall:.0f} ms", f"{cpu:.0f} ms")
        for (label, line), (wall, cpu) in zip(labels, results, strict=True)
    ]
    print_table(
        f"Completion, {options.stacks} stacks on {options.hosts} hosts, median of "
        f"{options.runs} runs (target: under {TARGET_MS} ms)",
        ("request", "line", "wall", "cpu"),
        rows,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
