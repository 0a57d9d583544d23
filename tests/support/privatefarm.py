"""A farm without shared storage: every host gets its own, initially empty, compose folder.

The lab's hosts share this machine's filesystem, so ``lab.compose_dir`` is one
folder seen by cf and by every host alike. ``PrivateFarm`` uses another
``compose_dir``, ``<lab root>/private/<farm prefix>``, which is cf's (the
"local") copy; inside each of the farm's hosts, ``<lab root>/private-hosts/
<prefix>/<host>`` is bind-mounted over that same path in the host's own mount
namespace. Each host (its sshd, its dockerd, its containers) then sees only
its own folder, as hosts without NFS would, while this process can still read
and write every host's copy through its backing folder (``on_host``).

``close`` removes the farm's containers and networks (``Farm.close``),
unmounts the folder in every host and deletes both trees, whatever state the
test left them in.

Also here: reading files and checksums as a host sees them, filling a data
folder with random bytes, and reading sizes out of cf's output.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

from tests.lab import Lab, LabHost
from tests.support.farm import Farm


class PrivateFarm(Farm):
    """A ``Farm`` whose hosts each see a private compose folder; sync on by default."""

    def initial_settings(self) -> dict[str, Any]:
        return {"sync": {"enabled": True}}

    def prepare(self) -> None:
        self.mounted: list[str] = []
        self.compose_dir.mkdir(parents=True, exist_ok=True)
        for host in self.hosts:
            source = self.backing(host)
            source.mkdir(parents=True, exist_ok=True)
            self.mounted.append(host)
            self.lab.host_exec(host, ["mount", "--bind", str(source), str(self.compose_dir)])

    # --- where things are ------------------------------------------------------

    @property
    def compose_dir(self) -> Path:
        """cf's compose folder; the same path inside each host is that host's own."""
        return self.lab.root / "private" / self.prefix

    def backing(self, host: str) -> Path:
        """The folder on this machine that ``host`` sees at ``compose_dir``."""
        return self.lab.root / "private-hosts" / self.prefix / host

    def local(self, stack: str, relative: str = "") -> Path:
        """A path in cf's own copy of ``stack``'s folder."""
        return self.compose_dir / stack / relative if relative else self.compose_dir / stack

    def on_host(self, host: str, stack: str, relative: str = "") -> Path:
        """The path on this machine of ``host``'s copy of ``stack/relative``."""
        base = self.backing(host) / stack
        return base / relative if relative else base

    def host_path(self, stack: str, relative: str = "") -> str:
        """The path of ``stack/relative`` as every host names it (and as cf does)."""
        return str(self.local(stack, relative))

    # --- what a host sees ----------------------------------------------------------

    def read(self, host: str, stack: str, relative: str) -> str | None:
        """``stack/relative`` as ``host`` sees it (None: no such file there)."""
        return read_on(self.lab, host, self.host_path(stack, relative))

    def exists(self, host: str, stack: str, relative: str = "") -> bool:
        done = self.lab.host_exec(
            host, ["test", "-e", self.host_path(stack, relative)], check=False
        )
        return done.returncode == 0

    def checksums(
        self, host: str, stack: str, relative: str, *, live: bool = False
    ) -> dict[str, str]:
        """SHA-256 of every file under ``stack/relative`` as ``host`` sees it (``live``:
        leave out files a running container deletes meanwhile)."""
        return checksums_on(self.lab, host, self.host_path(stack, relative), live=live)

    # --- cleanup -------------------------------------------------------------------------

    def close(self) -> None:
        try:
            super().close()
        finally:
            try:
                for host in self.mounted:
                    self._unmount(host)
            finally:
                shutil.rmtree(self.lab.root / "private-hosts" / self.prefix, ignore_errors=True)
                shutil.rmtree(self.compose_dir, ignore_errors=True)

    def _unmount(self, host: str) -> None:
        target = str(self.compose_dir)
        for _ in range(5):  # a bind mount made twice needs two unmounts
            done = self.lab.host_exec(host, ["umount", "-l", target], check=False)
            if done.returncode != 0:
                return


# --- files on hosts ---------------------------------------------------------------------


def read_on(lab: Lab, host: LabHost | str, path: str) -> str | None:
    """The text of ``path`` inside ``host``'s mount namespace (None: it is not a file there)."""
    done = lab.host_exec(host, ["sh", "-c", 'test -f "$1" && cat "$1"', "sh", path], check=False)
    return done.stdout if done.returncode == 0 else None


def checksums_on(
    lab: Lab, host: LabHost | str, folder: str, *, live: bool = False
) -> dict[str, str]:
    """Relative path -> SHA-256 of every regular file under ``folder`` as ``host`` sees it.

    Fails (AssertionError) when ``folder`` is not a folder there. ``live``: a
    running container may delete files meanwhile; those are left out.
    """
    script = 'cd "$1" && find . -type f -exec sha256sum {} +'
    done = lab.host_exec(host, ["sh", "-c", script, "sh", folder], check=False, timeout=120)
    vanished = all("No such file or directory" in ln for ln in done.stderr.splitlines())
    if done.returncode != 0 and not (live and done.stderr and vanished):
        raise AssertionError(f"checksums of {folder} on {lab.host(host).name}: {done.stderr}")
    found = {}
    for line in done.stdout.splitlines():
        digest, _, name = line.partition("  ")
        found[name.removeprefix("./")] = digest
    return found


def fill(folder: Path, megabytes: float, *, files: int = 12, seed: int | None = None) -> int:
    """Write about ``megabytes`` MiB of random bytes as ``files`` files in a few subfolders.

    Returns the bytes written. Random, so no layer can compress or deduplicate it.
    """
    rng = random.Random(seed)
    total = int(megabytes * 1024 * 1024)
    sizes = [total // files] * files
    sizes[-1] += total - sum(sizes)
    for i, size in enumerate(sizes):
        sub = folder / ("" if i % 3 == 0 else f"sub{i % 3}") / ("deep" if i % 4 == 3 else "")
        sub.mkdir(parents=True, exist_ok=True)
        content = rng.randbytes(size) if seed is not None else os.urandom(size)
        (sub / f"blob-{i:02d}.bin").write_bytes(content)
    return total


def sizes_in(text: str) -> list[int]:
    """Every size written like ``52428800 bytes``, ``50.0 MiB`` or ``52 MB`` in ``text``."""
    units = {
        "b": 1,
        "byte": 1,
        "bytes": 1,
        "kb": 1000,
        "kib": 1024,
        "k": 1024,
        "mb": 1000**2,
        "mib": 1024**2,
        "m": 1024**2,
        "gb": 1000**3,
        "gib": 1024**3,
        "g": 1024**3,
    }
    found = []
    for number, unit in re.findall(
        r"(\d[\d,]*(?:\.\d+)?)\s*([KMG]i?B|[KMG]|bytes?|B)\b", text, re.I
    ):
        found.append(int(float(number.replace(",", "")) * units[unit.lower()]))
    return found
