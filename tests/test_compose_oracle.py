"""cf reads every compose project as ``docker compose config`` does (the oracle).

Each stack of ``compose_corpus/stacks`` and each generated case (seeded:
``CF_ORACLE_SEED``, ``CF_ORACLE_CASES``) is read by both; any disagreement on
what cf uses fails, printing the case (generated ones shrunk first). Fails
without ``docker compose`` under CI, skips otherwise. See docs/compose-oracle.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
