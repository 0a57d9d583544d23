"""``.env`` parsing with Compose's rules (cases checked against ``docker compose`` v2.40)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose_farm.compose.dotenv import parse_dotenv, read_dotenv
from compose_farm.errors import ComposeFileError

ENV_PATH = Path("/stacks/web/.env")
ENVIRON = {"OS": "fromos"}

# (.env text, expected variables in order)
CASES: list[tuple[str, dict[str, str]]] = [
    ("K=v", {"K": "v"}),
    ("export K=v", {"K": "v"}),
    ("  export   K = v  ", {"K": "v"}),
    ("export\tK=v", {"K": "v"}),
    ("exportK=v", {"exportK": "v"}),
    ("export K: v", {"K": "v"}),
    ("K: v", {"K": "v"}),
    ("K:D=v", {"K": "D=v"}),
    ("K==v", {"K": "=v"}),
    ("K.D=v\nK-D=w", {"K.D": "v", "K-D": "w"}),
    ("# comment\n\n   # indented\n\tK=v\n", {"K": "v"}),
    ("K=", {"K": ""}),
    ("K=''", {"K": ""}),
    ('K=""', {"K": ""}),
    ("K=  lead", {"K": "lead"}),
    ("K=a b c   ", {"K": "a b c"}),
    # unquoted: " #" starts a comment, a bare or tab-preceded "#" does not
    ("K=v # comment", {"K": "v"}),
    ("K=a  # c\n", {"K": "a"}),
    ("K=a#b", {"K": "a#b"}),
    ("K=a\t#b", {"K": "a\t#b"}),
    ("K=#c", {"K": "#c"}),
    ("K= #c", {"K": "#c"}),
    ("K=v#not\nL=x # yes", {"K": "v#not", "L": "x"}),
    ("K=a\\b", {"K": "a\\b"}),
    ("K=a\\ #b", {"K": "a\\"}),
    ("K=v\\\nL=w", {"K": "v\\", "L": "w"}),
    ("K=a'b", {"K": "a'b"}),
    # single quotes: literal, multi-line, only \' unescaped
    ("K='a #b' # c", {"K": "a #b"}),
    ("K='a $X \\n b'", {"K": "a $X \\n b"}),
    ("X=1\nK='v${X}'", {"X": "1", "K": "v${X}"}),
    ("K='multi\nline'", {"K": "multi\nline"}),
    ("K='a\\'b'", {"K": "a'b"}),
    ("K='a\\\\b'", {"K": "a\\\\b"}),
    ("K='${'", {"K": "${"}),
    # double quotes: escapes, interpolation, multi-line
    ('K="a\\nb\\tc\\\\d\\"e\\$f\\x\\\'g"', {"K": "a\nb\tc\\d\"e$f\\x\\'g"}),
    ('K="a\\rb\\bc\\fd\\ve"', {"K": "a\rb\bc\fd\ve"}),
    ('K="\\\\n"', {"K": "\\n"}),
    ('K="bar#baz" # comment', {"K": "bar#baz"}),
    ('K="multi\nline"', {"K": "multi\nline"}),
    ('X=1\nK="v${X}w"', {"X": "1", "K": "v1w"}),
    ('X=t\nK="\\${X} ${X}"', {"X": "t", "K": "${X} t"}),
    ('K="$$x"', {"K": "$x"}),
    ('K="a\\\\" X=1', {"K": "a\\", "X": "1"}),
    ('K="a" X=1', {"K": "a", "X": "1"}),
    ('K="a"#c', {"K": "a"}),
    ('K="a" trailing', {"K": "a"}),
    ("K = 'a' ", {"K": "a"}),
    # interpolation of earlier keys and of the environment
    ("X=1\nK=v${X}w", {"X": "1", "K": "v1w"}),
    ("X=1\nK=v$X", {"X": "1", "K": "v1"}),
    ("X=1\nX=${X}2", {"X": "12"}),
    ("K=${OS}", {"K": "fromos"}),
    ("K=${NOPE:-d}", {"K": "d"}),
    ("K=$$x", {"K": "$x"}),
    # the environment wins over the file
    ("OS=file", {"OS": "fromos"}),
    ("OS=file\nK=${OS}", {"OS": "fromos", "K": "fromos"}),
    ("OS=${OS}x", {"OS": "fromos"}),
    # a key alone is taken from the environment, or skipped
    ("K", {}),
    ("export K", {}),
    ("OS", {"OS": "fromos"}),
    ("OS\n", {"OS": "fromos"}),
    ("K=v\nexport K", {"K": "v"}),
    ("K\nK=2", {"K": "2"}),
    # the last assignment wins; file order is kept
    ("K=a\nK=b", {"K": "b"}),
    ("B=1\nA=2", {"B": "1", "A": "2"}),
    # line endings, BOM, empty key
    ("K=v\r\nL=w\r\n", {"K": "v", "L": "w"}),
    ("\ufeffK=v", {"K": "v"}),
    ("=v\nK=w", {"K": "w"}),
    ("", {}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(t) for t, _ in CASES])
def test_parse(text: str, expected: dict[str, str]) -> None:
    values = parse_dotenv(text, ENV_PATH, ENVIRON).values
    assert values == expected
    assert list(values) == list(expected)


# (.env text, message part, line)
ERRORS: list[tuple[str, str, int]] = [
    ("K D=v", "key cannot contain a space", 1),
    ("A=1\nlol$wut", "unexpected character '$' in variable name 'lol$wut'", 2),
    ("K/D=v", "unexpected character '/'", 1),
    ('A=1\n\nK="unterminated', 'unterminated quoted value "unterminated', 3),
    ("K='unterminated\nL=1", "unterminated quoted value 'unterminated", 1),
    ('K="a""b"', "unexpected character '\"'", 1),
    ("A=1\nK=${", "invalid interpolation format", 2),
    ('K="${"', "invalid interpolation format", 1),
    ("K=${NOPE:?boom}", "required variable NOPE is missing a value: boom", 1),
]


@pytest.mark.parametrize(("text", "message", "line"), ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_name_file_and_line(text: str, message: str, line: int) -> None:
    with pytest.raises(ComposeFileError) as raised:
        parse_dotenv(text, ENV_PATH, ENVIRON)
    assert str(raised.value).startswith(f"{ENV_PATH}:{line}: ")
    assert message in str(raised.value)


def test_unset_variables_are_warnings() -> None:
    env = parse_dotenv("A=1\nK=${X}\nX=late", ENV_PATH, {})
    assert env.values == {"A": "1", "K": "", "X": "late"}
    assert env.warnings == (
        f'{ENV_PATH}:2: The "X" variable is not set. Defaulting to a blank string.',
    )


def test_values_are_not_in_repr() -> None:
    assert "s3cret" not in repr(parse_dotenv("PASSWORD=s3cret", ENV_PATH, {}))


def test_read_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / ".env", {}).values == {}


def test_read_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\nB=${A}2\n", encoding="utf-8")
    assert read_dotenv(tmp_path / ".env", {}).values == {"A": "1", "B": "12"}


def test_a_folder_named_env_is_ignored_as_compose_ignores_it(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    assert read_dotenv(tmp_path / ".env", {}).values == {}


def test_bytes_that_are_not_utf8_become_one_replacement_character_each(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"A=\xff\xfeok\nB=\xe2\x82x\n")
    assert read_dotenv(tmp_path / ".env", {}).values == {
        "A": "\ufffd\ufffdok",
        "B": "\ufffd\ufffdx",
    }


# (.env bytes, variables): line ends as Compose reads them
CARRIAGE_RETURNS: list[tuple[bytes, dict[str, str]]] = [
    (b'A="a\r\nb"\r\nB=x\r\n', {"A": "a\r\nb", "B": "x"}),
    (b"A=1\rB=2\rC=3\r", {"A": "1\rB=2\rC=3"}),
    (b"A='x\r\ny'\r\nB=z\r", {"A": "x\r\ny", "B": "z"}),
    (b"A=a\r\r\nB=b", {"A": "a", "B": "b"}),
    (b'A="x"\rB="y"', {"A": "x", "B": "y"}),
    (b"A=x # c\rB=y", {"A": "x"}),
    (b"\rA=1", {"A": "1"}),
]


@pytest.mark.parametrize(
    ("data", "expected"), CARRIAGE_RETURNS, ids=[repr(d) for d, _ in CARRIAGE_RETURNS]
)
def test_carriage_returns(tmp_path: Path, data: bytes, expected: dict[str, str]) -> None:
    (tmp_path / ".env").write_bytes(data)
    assert read_dotenv(tmp_path / ".env", {}).values == expected
