"""Pydantic errors -> problems: chosen by type, ctx and loc, never by Pydantic's wording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML

from compose_farm.config.problems import (
    HANDLED_TYPES,
    Locator,
    document_loc,
    message_for,
    pydantic_problems,
)
from compose_farm.config.schema import RawConfig
from compose_farm.errors import ConfigError, Problem
from compose_farm.yamlio import parse_yaml, to_plain

PATH = Path("/farm/compose-farm.yaml")
NOT_PYDANTICS_WORDS = "words Pydantic might use one day"

# Every error type the translation knows: (type, ctx, input) -> message.
MESSAGES: list[tuple[str, dict[str, Any], Any, str]] = [
    ("missing", {}, {}, "required key is missing"),
    ("extra_forbidden", {}, 1, "unknown key"),
    ("string_too_short", {"min_length": 1}, "", "must not be empty"),
    ("string_too_short", {"min_length": 3}, "ab", "must be at least 3 characters long"),
    ("string_type", {}, 5, "expected a string, got 5"),
    ("list_type", {}, "a", "expected a list, got 'a'"),
    ("tuple_type", {}, {"a": 1}, "expected a list, got a mapping"),
    ("dict_type", {}, [1], "expected a mapping, got a list"),
    ("model_type", {}, "yes", "expected a mapping, got 'yes'"),
    ("int_type", {}, None, "expected a whole number, got nothing (null)"),
    ("int_parsing", {}, "ssh", "expected a whole number, got 'ssh'"),
    ("int_from_float", {}, 2.5, "expected a whole number, got 2.5"),
    ("float_type", {}, [], "expected a number, got a list"),
    ("float_parsing", {}, "soon", "expected a number, got 'soon'"),
    ("bool_type", {}, [], "expected true or false, got a list"),
    ("bool_parsing", {}, "maybe", "expected true or false, got 'maybe'"),
    ("greater_than", {"gt": 0.0}, 0, "must be greater than 0"),
    ("greater_than_equal", {"ge": 1}, 0, "must be at least 1"),
    ("less_than_equal", {"le": 65535}, 70000, "must be at most 65535"),
    ("literal_error", {"expected": "'host' or 'local'"}, "x", "must be 'host' or 'local'"),
    ("value_error", {"error": ValueError("our own words")}, 1, "our own words"),
]


def error(kind: str, loc: tuple[str | int, ...] = (), ctx: dict[str, Any] | None = None) -> Any:
    """An error as Pydantic reports it, with a message no translation may rely on."""
    made: dict[str, Any] = {"type": kind, "loc": loc, "msg": NOT_PYDANTICS_WORDS, "input": None}
    if ctx is not None:
        made["ctx"] = ctx
    return made


@pytest.mark.parametrize(("kind", "ctx", "value", "message"), MESSAGES, ids=str)
def test_each_handled_type_is_worded_from_type_ctx_and_input(
    kind: str, ctx: dict[str, Any], value: Any, message: str
) -> None:
    made = error(kind, ctx=ctx)
    made["input"] = value
    assert message_for(made) == message


def test_the_table_covers_every_handled_type() -> None:
    assert {kind for kind, *_ in MESSAGES} == HANDLED_TYPES


def test_a_type_it_does_not_know_keeps_pydantics_message() -> None:
    assert message_for(error("uuid_parsing")) == NOT_PYDANTICS_WORDS


DOCUMENT = parse_yaml(
    """\
compose_dir: /opt/compose
hosts:
  nuc: 10.0.0.1
stacks:
  plex: [nuc, 5]
  str: {hosts: [nuc, 6]}
  web: {sync: true}
""",
    PATH,
)


@pytest.mark.parametrize(
    ("loc", "missing", "expected"),
    [
        # a union member's tag under a list is not a place in the file
        (("stacks", "str", "hosts", "list", 1), False, ("stacks", "str", "hosts", 1)),
        # a shorthand's widened key ('hosts') under a list: skipped
        (("stacks", "plex", "hosts", "list", 1), False, ("stacks", "plex", 1)),
        # under a scalar, everything is what a validator made of it
        (("hosts", "nuc", "address"), False, ("hosts", "nuc")),
        # a name Pydantic once gave a validator, wherever it turns up
        (("hosts", "function-after[_check_address(), str]", "nuc"), False, ("hosts", "nuc")),
        (("stacks", "web", "hosts"), True, ("stacks", "web", "hosts")),
        (("compose_dir",), True, ("compose_dir",)),
        # only the last part may be the key that is missing
        (("stacks", "web", "_RawStack", "hosts"), True, ("stacks", "web", "hosts")),
        (("stacks", "plex", 7), False, ("stacks", "plex")),
    ],
)
def test_loc_becomes_a_path_in_the_users_document(
    loc: tuple[str | int, ...], missing: bool, expected: tuple[str | int, ...]
) -> None:
    assert document_loc(DOCUMENT, loc, missing=missing) == expected


def test_problems_name_the_users_key_and_its_line() -> None:
    at = Locator(DOCUMENT, PATH)
    errors = [
        error("string_type", ("stacks", "str", "hosts", "list", 1)),
        error("string_type", ("stacks", "str", "hosts", "list", 1)),  # reported once
        error("missing", ("stacks", "web", "hosts")),
    ]
    assert pydantic_problems(errors, at) == [
        Problem("expected a string, got nothing (null)", PATH, 6, "stacks.str.hosts.1"),
        Problem("required key is missing", PATH, 7, "stacks.web.hosts"),
    ]


def test_services_is_named_as_the_file_names_it() -> None:
    document = parse_yaml("services:\n  plex: [nuc, 5]\n", PATH)
    at = Locator(document, PATH, stacks_key="services")
    problem = at.problem("bad", ["stacks", "plex", "hosts", "list", 1])
    assert (problem.key, problem.line) == ("services.plex.1", 2)


def validation_errors(text: str) -> list[ErrorDetails]:
    with pytest.raises(ValidationError) as raised:
        RawConfig.model_validate(to_plain(parse_yaml(text, PATH)))
    return raised.value.errors()


BAD = """\
compose_dir: 5
hosts:
  nuc: {address: "-x", port: 0, user: "", local: maybe}
  hp: {address: 10.0.0.2, port: ssh, usr: admin}
ssh: {connect_timeout: 0, max_channels_per_host: 65}
sync: {exclude: "*.log", enabled: [1]}
hooks:
  before_up: [{run: "true", on: there}, 5, {on: local}]
stacks:
  plex: [nuc, 5]
  web: {hosts: 5, data: ./x, sync: sometimes}
  db: 7
"""


def test_real_errors_read_the_same_whatever_pydantic_says() -> None:
    errors = validation_errors(BAD)
    reworded: list[Any] = [{**e, "msg": NOT_PYDANTICS_WORDS} for e in errors]
    at = Locator(parse_yaml(BAD, PATH), PATH)
    problems = pydantic_problems(errors, at)
    assert pydantic_problems(reworded, at) == problems
    assert {e["type"] for e in errors} <= HANDLED_TYPES
    shown = [str(p).removeprefix(f"{PATH}:") for p in problems]
    assert shown == [
        "1: compose_dir: expected a string, got 5",
        "3: hosts.nuc.address: must be a hostname or IP address (no spaces, not starting with '-')",
        "3: hosts.nuc.user: must not be empty",
        "3: hosts.nuc.port: must be at least 1",
        "3: hosts.nuc.local: expected true or false, got 'maybe'",
        "4: hosts.hp.port: expected a whole number, got 'ssh'",
        "4: hosts.hp.usr: unknown key",
        "10: stacks.plex.1: expected a string, got 5",
        "11: stacks.web.hosts: expected a host name, 'all', or a list of host names",
        "11: stacks.web.sync: expected true or false, got 'sometimes'",
        "11: stacks.web.data: expected a list, got './x'",
        "12: stacks.db: expected a host name, 'all', a list of host names, "
        "or a mapping with 'hosts' (and 'sync', 'data', 'hooks')",
        "5: ssh.connect_timeout: must be greater than 0",
        "5: ssh.max_channels_per_host: must be at most 64",
        "6: sync.enabled: expected true or false, got a list",
        "6: sync.exclude: expected a list, got '*.log'",
        "8: hooks.before_up.0.on: must be 'host' or 'local'",
        "8: hooks.before_up.1: expected a command, a mapping with 'run' (and 'on'), "
        "or a list of these",
        "8: hooks.before_up.2.run: required key is missing",
    ]


def test_the_bad_config_table_raises_only_handled_types() -> None:
    """Every Pydantic error the table's files cause is one the translation knows."""
    cases = YAML(typ="safe").load((Path(__file__).parent / "data" / "config_errors.yaml").open())
    seen: set[str] = set()
    for case in cases:
        try:
            data = to_plain(parse_yaml(case.get("text") or "", PATH))
        except ConfigError:  # a syntax error: Pydantic never sees the file
            continue
        try:
            RawConfig.model_validate(data)
        except ValidationError as exc:
            seen |= {e["type"] for e in exc.errors()}
    assert seen and seen <= HANDLED_TYPES
