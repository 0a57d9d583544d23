"""Port entries from ``data/compose_ports.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.compose.ports import PortError, PublishedPort, parse_port

DATA = Path(__file__).parent / "data" / "compose_ports.yaml"


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = YAML(typ="safe").load(DATA.read_text(encoding="utf-8"))
    return cases


def expected_port(row: list[Any]) -> PublishedPort:
    host_ip, published, target, protocol, *extra = row
    return PublishedPort(
        target=target, published=published, host_ip=host_ip, protocol=protocol, **(extra or [{}])[0]
    )


CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[repr(c["entry"]) for c in CASES])
def test_port(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PortError) as raised:
            parse_port(case["entry"])
        assert case["error"] in str(raised.value)
        return
    assert parse_port(case["entry"]) == [expected_port(row) for row in case["ports"]]


def test_enough_cases() -> None:
    assert sum("ports" in c for c in CASES) >= 15


@pytest.mark.parametrize(
    ("port", "host_ports"),
    [
        (PublishedPort(target=80), range(0)),
        (PublishedPort(target=80, published=8080), range(8080, 8081)),
        (PublishedPort(target=80, published=8080, published_end=8082), range(8080, 8083)),
    ],
)
def test_host_ports(port: PublishedPort, host_ports: range) -> None:
    assert port.host_ports == host_ports


def test_a_range_of_every_port_loads_in_linear_time() -> None:
    """65,535 ports load in a fraction of a second (they took 11 minutes when each new
    port was compared with every earlier one); 5 s leaves room for a slow machine."""
    import time

    from compose_farm.compose import DotEnv, build_project

    text = 'services:\n  a:\n    image: x\n    ports: ["1-65535:1-65535", "1-65535:1-65535"]\n'
    start = time.perf_counter()
    project = build_project(
        stack="x", path=Path("/s/x/compose.yaml"), text=text, dotenv=DotEnv(), environ={}
    )
    assert time.perf_counter() - start < 5
    assert len(project.services["a"].ports) == 65535
