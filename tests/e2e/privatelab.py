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
folder with random bytes, and ``throttle`` to slow a host's link.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.farm import Farm, Where, farm_of, sleep_stack
from tests.lab import Lab, LabHost
from tests.lab.proc import run


class PrivateFarm(Farm):
    """A ``Farm`` whose hosts each see a private compose folder; sync on by default.

    ``options[stack]`` holds a stack's ``data`` / ``hooks`` / ``sync`` keys (the
    stack is written as a mapping when it has any); ``top`` holds farm-wide
    keys such as ``sync`` and ``hooks``.
    """

    def __init__(
        self,
        lab: Lab,
        folder: Path,
        hosts: Sequence[str],
        *,
        connect_timeout: float | None = None,
    ) -> None:
        self.options: dict[str, dict[str, Any]] = {}
        self.top: dict[str, Any] = {"sync": {"enabled": True}}
        self.mounted: list[str] = []
        super().__init__(lab, folder, hosts, connect_timeout=connect_timeout)
        try:
            self.compose_dir.mkdir(parents=True, exist_ok=True)
            for host in self.hosts:
                self._mount(host)
        except BaseException:
            self.close()
            raise

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

    # --- config ----------------------------------------------------------------

    def stack(
        self,
        suffix: str,
        where: Where,
        compose: str | None = None,
        env: str | None = None,
        *,
        files: Mapping[str, str | bytes] | None = None,
        **options: Any,
    ) -> str:
        """Write the stack's local folder (plus ``files``) and configure it with ``options``."""
        name = self.name(suffix)
        folder = self.local(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "compose.yaml").write_text(compose or sleep_stack(self.lab.image))
        if env is not None:
            (folder / ".env").write_text(env)
        for relative, content in (files or {}).items():
            write(folder / relative, content)
        self.options[name] = dict(options)
        self.place(name, where)
        return name

    def configure(self, stack: str, **options: Any) -> None:
        """Set (or with ``None`` remove) keys of ``stack``'s mapping and rewrite the config."""
        for key, value in options.items():
            if value is None:
                self.options[stack].pop(key, None)
            else:
                self.options[stack][key] = value
        self.write_config()

    def write_config(self) -> None:
        super().write_config()
        document = json.loads(self.config_path.read_text())
        document["compose_dir"] = str(self.compose_dir)
        document["stacks"] = {
            stack: {"hosts": where, **self.options[stack]} if self.options.get(stack) else where
            for stack, where in self.stacks.items()
        }
        document.update(self.top)
        self.config_path.write_text(json.dumps(document, indent=2) + "\n")

    # --- the private folders -----------------------------------------------------

    def _mount(self, host: str) -> None:
        source = self.backing(host)
        source.mkdir(parents=True, exist_ok=True)
        self.mounted.append(host)
        self.lab.host_exec(host, ["mount", "--bind", str(source), str(self.compose_dir)])

    def _unmount(self, host: str) -> None:
        target = str(self.compose_dir)
        for _ in range(5):  # a bind mount made twice needs two unmounts
            done = self.lab.host_exec(host, ["umount", "-l", target], check=False)
            if done.returncode != 0:
                return

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


def private_farm(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    connect_timeout: float | None = None,
    exclusive: bool = False,
) -> AbstractContextManager[PrivateFarm]:
    """A ``PrivateFarm`` over ``hosts``, cleaned up after; ``exclusive`` holds the h7/h8 lock."""
    return farm_of(
        PrivateFarm,
        lab,
        folder,
        hosts,
        connect_timeout=connect_timeout,
        exclusive=exclusive,
        lock="h7h8",
    )


# --- files on hosts ---------------------------------------------------------------------


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


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


# --- a slow link ----------------------------------------------------------------------------


def interface_of(lab: Lab, host: LabHost | str) -> str:
    """The name, inside ``host``, of the interface that carries its lab address."""
    h = lab.host(host)
    done = lab.host_exec(h, ["ip", "-o", "-4", "addr", "show"])
    for line in done.stdout.splitlines():
        # "2: eth0    inet 10.251.0.18/24 brd ... scope global eth0"
        fields = line.split()
        if len(fields) > 3 and fields[3].split("/")[0] == h.address:
            return fields[1].split("@")[0]
    raise AssertionError(f"no interface with {h.address} on {h.name}: {done.stdout}")


def _tbf(rate: str) -> list[str]:
    # The bucket must hold one 64 KB segment: veths pass GSO packets that large, and
    # a smaller burst drops them (TCP then crawls far below ``rate``).
    return ["root", "tbf", "rate", rate, "burst", "64kb", "latency", "400ms"]


@contextmanager
def throttle(lab: Lab, host: str, rate: str = "40mbit") -> Iterator[None]:
    """``host``'s link limited to ``rate`` both ways for the block (a token bucket each way).

    Outgoing: a ``tbf`` qdisc on the host's interface inside its namespace.
    Incoming: a qdisc only shapes what leaves an interface, so the other end of
    the host's cable (in this machine's namespace, the one ``cut`` unplugs)
    gets one too. Both are removed after the block, even when it fails.
    """
    h = lab.host(host)
    inside = interface_of(lab, h)
    # A qdisc left by a killed run is replaced, not stacked.
    lab.host_exec(h, ["tc", "qdisc", "del", "dev", inside, "root"], check=False)
    run(["tc", "qdisc", "del", "dev", h.veth, "root"], check=False)
    try:
        lab.host_exec(h, ["tc", "qdisc", "add", "dev", inside, *_tbf(rate)])
        run(["tc", "qdisc", "add", "dev", h.veth, *_tbf(rate)])
        yield
    finally:
        lab.host_exec(h, ["tc", "qdisc", "del", "dev", inside, "root"], check=False)
        run(["tc", "qdisc", "del", "dev", h.veth, "root"], check=False)


def qdiscs(lab: Lab, host: str) -> str:
    """``tc qdisc show`` on both ends of ``host``'s cable (for assertions and messages)."""
    h = lab.host(host)
    inside = lab.host_exec(h, ["tc", "qdisc", "show", "dev", interface_of(lab, h)]).stdout
    outside = run(["tc", "qdisc", "show", "dev", h.veth]).stdout
    return inside + outside


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
