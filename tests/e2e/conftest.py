"""Fixtures of the lab tests: the farm a test runs `cf` over.

A module (in ``pytestmark``) or a test names the farm it needs with the
``farm`` marker, and takes the ``farm`` fixture::

    pytestmark = pytest.mark.farm(hosts=("h1", "h2", "h3"))

    @pytest.mark.farm(hosts=("h4", "h5"), connect_timeout=3.0, exclusive=True)
    @pytest.mark.farm(hosts=("h1", "h2"), kind=PrivateFarm)

The test's own marker wins over its module's. ``exclusive`` holds the lock of
the hosts the test breaks (tests/support/faults.py). A test that needs a farm
made mid-test, a second one, or one in a folder of its choosing, takes
``make_farm`` instead (``make_farm(hosts, kind=..., folder=...)``). Every farm
is cleaned up after its test, whatever the test did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.support.farm import Farm, FarmFactory


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "farm(hosts, kind=Farm, connect_timeout=None, exclusive=False): "
        "the farm the `farm` fixture makes (tests/e2e/conftest.py)",
    )


@dataclass(frozen=True)
class FarmSpec:
    """What a ``farm`` marker may say."""

    hosts: Sequence[str]
    kind: type[Farm] = Farm
    connect_timeout: float | None = None
    exclusive: bool = False


@pytest.fixture
def make_farm(lab: Lab, tmp_path: Path) -> Iterator[FarmFactory]:
    """Make farms during the test; each is cleaned up after it."""
    with contextlib.ExitStack() as stack:
        yield FarmFactory(lab, tmp_path, stack)


@pytest.fixture
def farm(request: pytest.FixtureRequest, make_farm: FarmFactory) -> Farm:
    """The farm the test's (or its module's) ``farm`` marker describes."""
    marker = request.node.get_closest_marker("farm")
    if marker is None or marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the farm fixture needs @pytest.mark.farm(hosts=...)"
        )
    spec = FarmSpec(**marker.kwargs)
    return make_farm(
        spec.hosts,
        kind=spec.kind,
        connect_timeout=spec.connect_timeout,
        exclusive=spec.exclusive,
    )
