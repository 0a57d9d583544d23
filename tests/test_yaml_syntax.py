"""A YAML syntax error names where an unclosed bracket, brace or quote began.

The config, compose files and the state file all read YAML through
``yamlio.parse_yaml``; each is checked here with the opener on line 3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from compose_farm.compose import load_compose
from compose_farm.config import load_config
from compose_farm.errors import FarmError
from compose_farm.state import StateStore
from compose_farm.yamlio import parse_yaml


def read_config(tmp_path: Path, line3: str) -> None:
    path = tmp_path / "compose-farm.yaml"
    path.write_text(f"compose_dir: /opt/compose\nhosts:\n  nuc: {line3}\nstacks: {{plex: nuc}}\n")
    load_config(path)


def read_compose(tmp_path: Path, line3: str) -> None:
    (tmp_path / "web").mkdir()
    text = f"services:\n  web:\n    image: {line3}\n    restart: always\n"
    (tmp_path / "web" / "compose.yaml").write_text(text)
    load_compose(tmp_path, "web", {})


def read_state(tmp_path: Path, line3: str) -> None:
    path = tmp_path / "compose-farm-state.yaml"
    path.write_text(f"version: 1\ndeployed:\n  plex: {line3}\n  web: nuc\n")
    StateStore(path).read()


READERS: dict[str, Callable[[Path, str], None]] = {
    "config": read_config,
    "compose": read_compose,
    "state": read_state,
}

# What line 3 says after its key, how the message names the opener, and where the
# parser stops: at the next key for a bracket or brace, at the end for a quote.
OPENERS = [
    ("[nuc", "the '[' opened on line 3 is still open here", 4),
    ("{address: nuc", "the '{' opened on line 3 is still open here", 4),
    ('"nuc', 'the " quote opened on line 3 is never closed', 5),
    ("'nuc", "the ' quote opened on line 3 is never closed", 5),
]


@pytest.mark.parametrize(("line3", "named", "stopped"), OPENERS, ids=[o[0][0] for o in OPENERS])
@pytest.mark.parametrize("reader", READERS)
def test_an_unclosed_opener_is_named_with_its_line(
    tmp_path: Path, reader: str, line3: str, named: str, stopped: int
) -> None:
    with pytest.raises(FarmError) as raised:
        READERS[reader](tmp_path, line3)
    message = str(raised.value)
    assert f":{stopped}: YAML syntax error: " in message, message
    assert f"({named})" in message, message


@pytest.mark.parametrize(
    ("text", "line", "end"),
    [
        # the parser stops on the opener's own line: the column tells which one
        ("a: {b: 1 c: 2}\n", 1, "(the '{' at column 4 is still open here)"),
        ("a: [1,\n  2\nb: 3\n", 3, "(the '[' opened on line 1 is still open here)"),
        (
            "a: [1,\n  2\n\n# a comment is not a closer\n",
            5,
            "(the '[' opened on line 1 is never closed)",
        ),
        # windows line ends and a byte order mark count as YAML counts them
        ("\ufeffa: 1\r\nb: 'x\r\n", 3, "(the ' quote opened on line 2 is never closed)"),
        # no bracket or quote involved: nothing added
        ("a: 1\na: 2\n", 2, 'original value: "1")'),
        ("a: 1\n b: 2\n", 2, "mapping values are not allowed here"),
    ],
)
def test_syntax_messages(text: str, line: int, end: str) -> None:
    with pytest.raises(FarmError) as raised:
        parse_yaml(text, Path("f.yaml"))
    assert str(raised.value).startswith(f"f.yaml:{line}: YAML syntax error: "), raised.value
    assert str(raised.value).endswith(end), raised.value
