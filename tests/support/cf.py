"""The one way tests run the ``cf`` command: a subprocess, as a user runs it.

``run_cf`` runs it to its end; ``start_cf`` starts it in the background and
reads its output line by line as it comes, so a test can act when cf says a
step began (``CfProcess.wait_for``) instead of after a guessed sleep. Both
build the environment the same way (``cf_environment``): a base (this
process's environment unless given, e.g. the lab client's), no colour, a wide
terminal, then the caller's variables. stdin is never the test's own: empty,
or the text given.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.support.waiting import WAIT


@dataclass(frozen=True)
class CfRun:
    """How one `cf` invocation ended, and how long it took from spawn to exit.

    A run started in the background (``start_cf``) has its stderr in ``stdout``,
    interleaved as printed, and ``stderr`` empty.
    """

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        """For assertion messages: the command, its status and everything it printed."""
        return (
            f"cf {' '.join(self.args)} -> exit {self.returncode} in {self.elapsed:.1f}s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def ok(done: CfRun) -> CfRun:
    """``done`` after asserting that it exited 0 and printed no traceback."""
    assert done.returncode == 0, done
    assert "Traceback" not in done.output, done
    return done


def cf_argv(*args: str) -> list[str]:
    """``cf ARGS`` with this interpreter (the venv's cf, whatever PATH says)."""
    return [sys.executable, "-m", "compose_farm", *args]


def cf_environment(
    env: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default: this process's environment), no colour, 200 columns, then ``env``."""
    return {
        **(os.environ if base is None else base),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **(env or {}),
    }


def run_cf(
    *args: str,
    env: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    stdin: str | None = None,
    tty: bool = False,
) -> CfRun:
    """``cf ARGS`` to its end, output captured as text.

    ``tty``: run it under util-linux ``script``, so its stdin and stdout are a
    terminal as in a person's shell (its output then all arrives on stdout).
    """
    argv = cf_argv(*args)
    if tty:
        argv = ["script", "-qec", shlex.join(argv), "/dev/null"]
    started = time.monotonic()
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=cf_environment(env, base=base),
        cwd=cwd,
        timeout=timeout,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        check=False,
    )
    elapsed = time.monotonic() - started
    return CfRun(tuple(args), done.returncode, done.stdout, done.stderr, elapsed)


def start_cf(
    *args: str,
    env: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
) -> CfProcess:
    """``cf ARGS`` started in the background (its own session), stdout and stderr together.

    ``log``: also copy every line to that file as it arrives.
    """
    popen = subprocess.Popen(
        cf_argv(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cf_environment(env, base=base),
        cwd=cwd,
        start_new_session=True,
    )
    return CfProcess(tuple(args), popen, log)


class CfProcess:
    """A `cf` running in the background; use as a context manager (killed if still running).

    A thread reads its output as it comes: ``wait_for`` returns once a line
    matches, ``output`` is everything so far, ``finish`` waits for the end.
    """

    def __init__(self, args: Sequence[str], popen: subprocess.Popen[str], log: Path | None) -> None:
        self.args = tuple(args)
        self.popen = popen
        self.started = time.monotonic()
        self._lines: list[str] = []
        self._unread: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(log,), daemon=True)
        self._reader.start()

    def _read(self, log: Path | None) -> None:
        stream = self.popen.stdout
        assert stream is not None
        copy: IO[str] | None = log.open("w") if log is not None else None
        try:
            for line in stream:
                with self._lock:
                    self._lines.append(line)
                self._unread.put(line)
                if copy is not None:
                    copy.write(line)
                    copy.flush()
        finally:
            self._unread.put(None)
            if copy is not None:
                copy.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output(self) -> str:
        """Everything cf printed so far."""
        with self._lock:
            return "".join(self._lines)

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_for(self, pattern: str, timeout: float = WAIT) -> str:
        """Read cf's output up to the first line (not read before) that matches the regex
        ``pattern``, and return that line.

        Fails the test, with what cf printed, if cf ends or ``timeout`` passes first.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._unread.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"cf {' '.join(self.args)} printed no line matching {pattern!r} "
                    f"in {timeout:g} s:\n{self.output}"
                ) from None
            if line is None:
                self._unread.put(None)  # the end stays visible to later calls
                self.popen.wait()
                raise AssertionError(
                    f"cf {' '.join(self.args)} exited {self.popen.returncode} before printing "
                    f"a line matching {pattern!r}:\n{self.output}"
                )
            if regex.search(line):
                return line

    def send_signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def interrupt(self) -> None:
        """Ctrl-C, as the terminal would send it."""
        self.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL: no clean-up of cf's can run."""
        if self.running():
            self.popen.kill()

    def finish(self, timeout: float = 120) -> CfRun:
        """Wait for cf to end and return how it ended.

        Fails the test if it still runs after ``timeout`` seconds (it is then killed).
        """
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.popen.wait()
            self._reader.join()
            raise AssertionError(
                f"cf {' '.join(self.args)} still ran {timeout:g} s later:\n{self.output}"
            ) from None
        self._reader.join()
        elapsed = time.monotonic() - self.started
        return CfRun(self.args, self.popen.returncode, self.output, "", elapsed)

    def __enter__(self) -> CfProcess:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.kill()
        self.popen.wait()
        self._reader.join()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
