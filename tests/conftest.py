"""Shared fixtures. ``lab``: the multi-host test lab (tests/lab/), for tests marked ``lab``."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from tests.lab import Lab, LabError, missing_prerequisites, up


def _unavailable(reason: str) -> NoReturn:
    """Skip, except in CI: there a missing lab must fail the run, never pass it silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the lab cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"no lab here: {reason}")


@pytest.fixture(scope="session")
def lab() -> Lab:
    """The running lab: reused if one is up, else brought up (under a file lock, so
    xdist workers wait for the first). Never torn down here: `python -m tests.lab down`."""
    if missing := missing_prerequisites():
        _unavailable("; ".join(missing))
    try:
        return up(say=lambda _: None)
    except LabError as exc:
        pytest.fail(f"the lab did not come up: {exc}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the ``lab`` fixture is a ``lab`` test, marked or not."""
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True)
def _private_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cf's state folder (the editors' backups) in a temporary folder, never the real
    ``~/.local/state`` of whoever runs the tests."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
