"""The stack's ``.env`` file, parsed with Compose's dotenv rules.

Rules (checked against ``docker compose`` v2.40):

* ``KEY=VALUE``, ``export KEY=VALUE`` and the YAML-like ``KEY: VALUE``; blank
  lines and ``#`` comment lines are skipped; spaces around the key are ignored.
* Unquoted values end at the line end; `` #`` (a space then ``#``) starts a
  comment; surrounding whitespace is trimmed; ``$VAR``/``${VAR}`` interpolate.
* ``'single'`` quotes are literal (only ``\\'`` is unescaped) and may span lines.
* ``"double"`` quotes may span lines, understand ``\\n \\r \\t \\b \\f \\v \\\\ \\" \\$``
  and interpolate; other backslashes are kept.
* After a closing quote the rest of the line is read as a new statement, as
  Compose does (so ``K="a" # note`` is fine).
* ``KEY`` alone takes its value from the environment, or is skipped if unset.
* Interpolation sees the environment and the keys defined above it.
* A key that is set in the environment keeps the environment's value: the
  shell wins over ``.env``.
* Lines end at ``\\n``; a ``\\r`` is kept inside quotes and trimmed as space
  elsewhere, so a CR-only file is one long line, as in Compose. Bytes that are
  not UTF-8 become U+FFFD, one per byte.
"""

from __future__ import annotations

import codecs
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.compose.interpolate import TemplateError, substitute, unset_warning
from compose_farm.errors import ComposeFileError, Problem

_SPACE = " \t\v\f\r\x85\xa0"
_KEY_PUNCTUATION = "_.-[]"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", '"': '"'}


@dataclass(frozen=True)
class DotEnv:
    """The variables of a ``.env`` file, in file order, after Compose's rules."""

    values: dict[str, str] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()


def read_dotenv(path: Path, environ: Mapping[str, str]) -> DotEnv:
    """Read and parse ``path``; a missing file, or a folder, is an empty ``DotEnv``."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return DotEnv()
    except OSError as exc:
        raise ComposeFileError(f"{path}: cannot read the .env file: {exc}") from None
    return parse_dotenv(decode(data), path, environ)


def decode(data: bytes) -> str:
    """Bytes as Compose sees them: UTF-8, each invalid byte one U+FFFD, line ends untouched."""
    return data.decode("utf-8", errors="cf-byte-replace")


def _replace_one_byte(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd", error.start + 1


codecs.register_error("cf-byte-replace", _replace_one_byte)


def parse_dotenv(text: str, path: Path, environ: Mapping[str, str]) -> DotEnv:
    """Parse ``.env`` text read from ``path``; ``environ`` is the process environment."""
    parser = _Parser(text.removeprefix("\ufeff"), path, environ)
    parser.parse()
    return DotEnv(parser.values, tuple(parser.warnings))


class _Parser:
    def __init__(self, text: str, path: Path, environ: Mapping[str, str]) -> None:
        self.text = text
        self.path = path
        self.environ = environ
        self.pos = 0
        self.values: dict[str, str] = {}
        self.warnings: list[str] = []
        self.lookup = ChainMap(dict(environ), self.values)

    def parse(self) -> None:
        while self._skip_blank_and_comments():
            line = self._line()
            key, inherited = self._key(line)
            if inherited:
                if key in self.environ:
                    self.values[key] = self.environ[key]
                continue
            value = self._value(line)
            if key:
                self.values[key] = self.environ.get(key, value)

    def _line(self, pos: int | None = None) -> int:
        return self.text.count("\n", 0, self.pos if pos is None else pos) + 1

    def _error(self, line: int, message: str) -> ComposeFileError:
        return ComposeFileError(str(Problem(message, self.path, line)))

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def _skip_blank_and_comments(self) -> bool:
        """Move to the next statement; False at the end of the text."""
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char.isspace():
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return True
        return False

    def _key(self, line: int) -> tuple[str, bool]:
        """Read ``[export ]KEY`` and its ``=``/``:``; True when the key stands alone."""
        text = self.text
        after = text[self.pos + 6 : self.pos + 7]
        if text.startswith("export", self.pos) and after and after in _SPACE:
            self.pos += 6
            self._skip_spaces()
        start = self.pos
        while self.pos < len(text):
            char = text[self.pos]
            if char in "=:\n":
                break
            if not (char in _SPACE or char.isalnum() or char in _KEY_PUNCTUATION):
                end = text.find("\n", start)
                near = text[start : end if end >= 0 else len(text)]
                raise self._error(line, f"unexpected character {char!r} in variable name {near!r}")
            self.pos += 1
        key = text[start : self.pos].strip(_SPACE)
        if any(c in _SPACE for c in key):
            raise self._error(line, f"key cannot contain a space: {key!r}")
        if self.pos >= len(text) or text[self.pos] == "\n":
            return key, True
        self.pos += 1
        return key, False

    def _value(self, line: int) -> str:
        self._skip_spaces()
        quote = self.text[self.pos : self.pos + 1]
        if quote in ("'", '"'):
            return self._quoted(quote, line)
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        raw = self.text[self.pos : end]
        self.pos = end
        comment = raw.find(" #")
        if comment >= 0:
            raw = raw[:comment]
        return self._interpolate(raw.rstrip(), line)

    def _quoted(self, quote: str, line: int) -> str:
        text = self.text
        start = i = self.pos + 1
        while i < len(text):
            if text[i] == "\\" and text[i + 1 : i + 2] in (quote, "\\" if quote == '"' else quote):
                i += 2
            elif text[i] == quote:
                break
            else:
                i += 1
        else:
            end = text.find("\n", self.pos)
            shown = text[self.pos : end if end >= 0 else len(text)]
            raise self._error(line, f"unterminated quoted value {shown}")
        body = text[start:i]
        self.pos = i + 1
        if quote == "'":
            return body.replace("\\'", "'")
        return self._interpolate(_unescape_double(body), line)

    def _interpolate(self, template: str, line: int) -> str:
        try:
            result = substitute(template, self.lookup)
        except TemplateError as exc:
            raise self._error(line, str(exc)) from None
        self.warnings.extend(str(Problem(unset_warning(n), self.path, line)) for n in result.unset)
        return result.value


def _unescape_double(body: str) -> str:
    """Resolve backslash escapes of a double-quoted value into an interpolation template."""
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        nxt = body[i + 1 : i + 2]
        if char == "\\" and nxt == "$":
            out.append("$$")  # a literal dollar, kept literal through interpolation
            i += 2
        elif char == "\\" and nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)
