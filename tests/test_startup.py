"""Start-up: Ctrl-C while cf starts, and the liboqs check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compose_farm.ssh import lib as sshlib
from tests.support.cf import start_cf


def test_ctrl_c_while_cf_starts_says_nothing_ran_and_exits_130(tmp_path: Path) -> None:
    # The config is a named pipe: cf blocks reading it, and the test's open() of the
    # other end returns exactly when cf has opened it, so the signal comes while cf
    # is starting (no sleep decides when).
    fifo = tmp_path / "compose-farm.yaml"
    os.mkfifo(fifo)
    with start_cf("ps", "-c", str(fifo)) as proc, fifo.open("w"):
        proc.interrupt()
        done = proc.finish(timeout=60)
    assert done.returncode == 130, done
    assert "Interrupted before cf ran anything on a host" in done.output, done
    assert "Traceback" not in done.output and "Aborted" not in done.output, done


def test_liboqs_is_looked_for_when_a_file_may_be_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(b"libc.so.6\0libnettle.so.8\0")
    monkeypatch.setattr(sshlib, "_LINKER_CACHE", cache)
    monkeypatch.setattr(sshlib, "_LIB_ROOTS", ())
    monkeypatch.delenv("LIBRARY_PATH", raising=False)
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert not sshlib.liboqs_may_be_installed()

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "liboqs.so").touch()
    monkeypatch.setenv("LD_LIBRARY_PATH", str(lib))
    assert sshlib.liboqs_may_be_installed()

    monkeypatch.delenv("LD_LIBRARY_PATH")
    cache.write_bytes(b"libc.so.6\0liboqs.so.7\0")
    assert sshlib.liboqs_may_be_installed()

    cache.unlink()
    assert sshlib.liboqs_may_be_installed()
