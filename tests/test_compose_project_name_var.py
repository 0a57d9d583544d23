"""``${COMPOSE_PROJECT_NAME}`` in a compose file reads as Compose reads it (the oracle).

Compose interpolates it with the project's name when the environment does not set
it: from ``name:``, else from the folder (normalised), and a ``COMPOSE_PROJECT_NAME``
in the environment or the ``.env`` wins over both. Each case is read by
``docker compose config`` and by cf, and the two readings must agree.
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

LABELS = (
    "    labels:\n"
    '      who: "x-${COMPOSE_PROJECT_NAME}"\n'
    '      fallback: "${COMPOSE_PROJECT_NAME:-unset}"\n'
)
CASES = {
    "the folder's name": ("services:\n  app:\n    image: busybox\n" + LABELS, None, {}),
    "name: in the file": (
        "name: custom\nservices:\n  app:\n    image: busybox\n" + LABELS,
        None,
        {},
    ),
    "the .env": (
        "services:\n  app:\n    image: busybox\n" + LABELS,
        "COMPOSE_PROJECT_NAME=fromdotenv\n",
        {},
    ),
    "the environment": (
        "name: custom\nservices:\n  app:\n    image: busybox\n" + LABELS,
        None,
        {"COMPOSE_PROJECT_NAME": "fromenv"},
    ),
    "an image tag": ("services:\n  app:\n    image: busybox:${COMPOSE_PROJECT_NAME}\n", None, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_compose_project_name_reads_as_compose_reads_it(case: str, tmp_path: Path) -> None:
    text, dotenv, variables = CASES[case]
    folder = tmp_path / "My.Stack-1"  # normalised by Compose to my.stack-1 -> mystack-1
    folder.mkdir()
    (folder / "compose.yaml").write_text(text)
    if dotenv is not None:
        (folder / ".env").write_text(dotenv)
    environ = environ_for(tmp_path, variables)

    theirs = compose_reading(compose_binary(), folder, environ)
    ours = cf_reading(folder, environ)

    assert theirs.error is None, theirs
    assert disagreement(theirs, ours) is None, disagreement(theirs, ours)


def test_the_name_reaches_a_file_read_through_extends(tmp_path: Path) -> None:
    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "base.yaml").write_text("services:\n  base:\n    image: busybox\n" + LABELS)
    (folder / "compose.yaml").write_text(
        "services:\n  app:\n    extends: {file: base.yaml, service: base}\n"
    )
    environ = environ_for(tmp_path, {})

    theirs = compose_reading(compose_binary(), folder, environ)
    ours = cf_reading(folder, environ)

    assert theirs.view is not None and theirs.view["services"]["app"]["labels"]["who"] == "x-ext"
    assert disagreement(theirs, ours) is None, disagreement(theirs, ours)
