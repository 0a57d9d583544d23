"""Interpolation cases from ``data/compose_interpolation.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.compose.interpolate import TemplateError, substitute

DATA = Path(__file__).parent / "data" / "compose_interpolation.yaml"
VARIABLES = {"SET": "value", "EMPTY": "", "OTHER": "other"}


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = YAML(typ="safe").load(DATA.read_text(encoding="utf-8"))
    return cases


CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["template"] for c in CASES])
def test_interpolation(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(TemplateError) as raised:
            substitute(case["template"], VARIABLES)
        assert case["error"] in str(raised.value)
        return
    result = substitute(case["template"], VARIABLES)
    assert result.value == case["value"]
    assert list(result.unset) == case.get("unset", [])


def test_cases_cover_every_operator() -> None:
    templates = " ".join(c["template"] for c in CASES)
    for op in (":-", "-", ":+", "+", ":?", "?", "$$"):
        assert op in templates


def test_lookup_is_only_the_given_mapping() -> None:
    assert substitute("${HOME}", {}).value == ""
    assert substitute("${HOME}", {"HOME": "/h"}).value == "/h"
