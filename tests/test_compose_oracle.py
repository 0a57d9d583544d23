"""cf reads every compose project as ``docker compose config`` does (the oracle).

Each stack of ``compose_corpus/stacks`` and each generated case (seeded:
``CF_ORACLE_SEED``, ``CF_ORACLE_CASES``) is read by both; any disagreement on
what cf uses fails, printing the case (generated ones shrunk first). Fails
without ``docker compose`` under CI, skips otherwise. See docs/compose-oracle.md.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.compose_corpus.generator import Case, Generator, shrink
from tests.compose_corpus.oracle import (
    cf_reading,
    compose_binary,
    compose_reading,
    disagreement,
    environ_for,
)

STACKS = Path(__file__).parent / "compose_corpus" / "stacks"
CORPUS = sorted(p.name for p in STACKS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_the_corpus_has_the_shapes_it_promises() -> None:
    assert {"traefik", "arr", "databases", "profiles", "extends", "include", "gpu"} <= set(CORPUS)


@pytest.mark.parametrize("stack", CORPUS)
def test_corpus_stack_reads_as_compose_reads_it(stack: str, tmp_path: Path) -> None:
    docker = compose_binary()
    environ = environ_for(tmp_path, {})
    found = disagreement(
        compose_reading(docker, STACKS / stack, environ), cf_reading(STACKS / stack, environ)
    )
    assert found is None, f"{stack}:\n{found}"


SEED = int(os.environ.get("CF_ORACLE_SEED", "15"))
CASES = int(os.environ.get("CF_ORACLE_CASES", "150"))


def check_case(docker: str, case: Case, root: Path, home: Path) -> str | None:
    """Write ``case`` into a fresh folder under ``root`` and compare both readings."""
    folder = Path(tempfile.mkdtemp(dir=root)) / "stack"
    folder.mkdir()
    case.write(folder)
    environ = environ_for(home, case.environ)
    return disagreement(compose_reading(docker, folder, environ), cf_reading(folder, environ))


def kind_of(disagreement: str) -> str:
    """Which way two readings differ: who refused, or the first field that differs."""
    return (
        disagreement.split("\n", 1)[0]
        if "refused" not in disagreement
        else (
            "compose refused"
            if disagreement.startswith("docker compose: refused")
            else "cf refused"
        )
    )


def test_generated_cases_read_as_compose_reads_them(tmp_path: Path) -> None:
    docker = compose_binary()
    home = tmp_path / "home"
    home.mkdir()
    cases = list(Generator(SEED).cases(CASES))
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda c: check_case(docker, c, tmp_path, home), cases))
    failing = [(case, why) for case, why in zip(cases, found, strict=True) if why is not None]
    if not failing:
        return
    case, first = failing[0]

    def same_failure(candidate: Case) -> bool:
        found = check_case(docker, candidate, tmp_path, home)
        return found is not None and kind_of(found) == kind_of(first)

    small = shrink(case, same_failure)
    why = check_case(docker, small, tmp_path, home)
    pytest.fail(
        f"{len(failing)} of {len(cases)} generated cases (seed {SEED}) disagree; the first, "
        f"shrunk:\n{small.show()}\n{why}",
        pytrace=False,
    )


def test_the_shrinker_keeps_what_makes_a_case_fail() -> None:
    case = Generator(1).case()
    case.files["compose.yaml"]["services"]["s0"]["labels"] = {"keep": "me", "drop": "x"}

    def fails(c: Case) -> bool:
        services = c.files["compose.yaml"].get("services") or {}
        return "keep" in (services.get("s0") or {}).get("labels", {})

    small = shrink(case, fails)

    assert small.files == {"compose.yaml": {"services": {"s0": {"labels": {"keep": "me"}}}}}
    assert small.environ == {}
