"""Host health: CPU, load, memory, Docker's disk and container counts, from ``/proc``.

One small shell program per host (``PROGRAM``), over the connection cf already
holds, and a pure parser of its output. Nothing runs on the host but ``grep``,
``cat``, ``docker info`` and ``df``: no agent, no daemon.

CPU use needs two samples of ``/proc/stat``. The program takes the first, reads
everything else, and, when asked to pause (``$1`` seconds, e.g. ``0.5``), takes
the second: a one-shot ``cf stats`` gets its CPU figure from that one round trip.
With ``$1`` = ``0`` it takes one sample and the caller computes the figure from
its previous reading of the host (``cf stats --live``, the web UI's history):
then the figure is the average since that reading, and no time is spent waiting.

Containers are counted from one ``docker ps --all --format {{.State}}``:
running (what ``docker ps -q`` lists: running, paused, restarting) and all
(what ``docker ps -aq`` lists). Docker's data root comes from ``docker info``
on a host's first reading only: that command runs every Docker CLI plugin for
its metadata (about 0.1 s with Compose installed, three times a ``docker ps``),
so later readings are handed the root the first one found. The disk is
``df -Pk`` of the data root. An engine that does not answer leaves the rest of
the reading intact, with the engine's error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# $1: seconds to wait before a second CPU sample ("0": one sample only); $2: Docker's
# data root when an earlier reading found it ("": ask `docker info`, which is slower:
# it runs every CLI plugin for its metadata). Containers are counted by their state.
PROGRAM = r"""
echo '--- cpu'
grep '^cpu' /proc/stat || exit 1
echo '--- loadavg'
cat /proc/loadavg || exit 1
echo '--- uptime'
cat /proc/uptime
echo '--- meminfo'
grep -E '^(MemTotal|MemAvailable|SwapTotal|SwapFree):' /proc/meminfo || exit 1
root=$2
if [ -z "$root" ]; then
  if info=$(docker info --format '{{.DockerRootDir}}' 2>&1); then
    root=$(printf '%s\n' "$info" | tail -n 1)  # warnings, if any, come first
  else
    echo '--- docker-error'
    printf '%s\n' "$info" | grep . | tail -n 3
  fi
fi
if [ -n "$root" ]; then
  if states=$(docker ps --all --format '{{.State}}' 2>&1); then
    echo '--- docker'
    printf '%s\n' "$root"
    printf '%s\n' "$states" | grep -c -E '^(running|paused|restarting)$'
    printf '%s\n' "$states" | grep -c -E '^[a-z]+$'
    echo '--- df'
    df -Pk -- "$root" 2>&1 | tail -n 1
  else
    echo '--- docker-error'
    printf '%s\n' "$states" | grep . | tail -n 3
  fi
fi
if [ "$1" != 0 ]; then
  sleep "$1"
  echo '--- cpu'
  grep '^cpu ' /proc/stat
fi
exit 0
"""

DEFAULT_PAUSE = 0.5  # seconds between the two CPU samples of a one-shot reading


class HealthParseError(ValueError):
    """The program's output is not what it prints (a shell without ``/proc``, say)."""


@dataclass(frozen=True)
class CpuTicks:
    """The first line of ``/proc/stat`` reduced to what CPU use is computed from."""

    total: int  # every state's ticks (guest time is already in user and nice)
    idle: int  # idle + iowait

    def busy_since(self, earlier: CpuTicks) -> float | None:
        """Percent of the time since ``earlier`` the CPUs were busy (None: no time passed,
        or the counters went back, as after a reboot)."""
        total = self.total - earlier.total
        idle = self.idle - earlier.idle
        if total <= 0 or idle < 0 or idle > total:
            return None
        return round(100.0 * (total - idle) / total, 1)


@dataclass(frozen=True)
class Disk:
    """``df`` of Docker's data root, in bytes."""

    filesystem: str
    total: int
    used: int
    available: int
    mount: str

    @property
    def percent(self) -> float:
        """Used, as ``df`` counts it: of used + available (reserved blocks left out)."""
        room = self.used + self.available
        return round(100.0 * self.used / room, 1) if room else 0.0


@dataclass(frozen=True)
class Engine:
    """What the host's Docker engine says of itself."""

    root_dir: str
    running: int
    total: int
    disk: Disk | None
    disk_error: str | None = None


@dataclass(frozen=True)
class HostHealth:
    """One reading of one host."""

    host: str
    cpus: int
    ticks: CpuTicks  # the last sample, for the next reading's CPU figure
    cpu_percent: float | None  # None: one sample and no earlier reading
    load: tuple[float, float, float]
    uptime: float  # seconds
    mem_total: int  # bytes
    mem_available: int
    swap_total: int
    swap_free: int
    engine: Engine | None
    engine_error: str | None = None

    @property
    def mem_used(self) -> int:
        """Memory in use: total less what the kernel says is available."""
        return self.mem_total - self.mem_available

    @property
    def mem_percent(self) -> float:
        """``mem_used`` as a percent of ``mem_total``."""
        return round(100.0 * self.mem_used / self.mem_total, 1) if self.mem_total else 0.0


_DF = re.compile(r"^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(/.*)$")


def _sections(output: str) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        if line.startswith("--- "):
            found.append((line[4:].strip(), []))
        elif found:
            found[-1][1].append(line)
    return found


def _ticks(line: str) -> CpuTicks:
    # cpu  user nice system idle iowait irq softirq steal [guest guest_nice]
    fields = line.split()
    if len(fields) < 5 or fields[0] != "cpu":
        raise HealthParseError(f"not a /proc/stat cpu line: {line!r}")
    values = [int(v) for v in fields[1:9]]
    return CpuTicks(total=sum(values), idle=values[3] + (values[4] if len(values) > 4 else 0))


def _meminfo(lines: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            found[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return found


def _engine(docker: list[str], df: list[str]) -> Engine:
    if len(docker) != 3 or not docker[0].startswith("/"):
        raise HealthParseError(f"unexpected docker answer: {docker!r}")
    root, running, total = docker[0], int(docker[1]), int(docker[2])
    line = df[-1] if df else ""
    found = _DF.match(line)
    if found is None:
        return Engine(root, running, total, None, line.strip() or "df said nothing")
    k = 1024
    disk = Disk(found[1], int(found[2]) * k, int(found[3]) * k, int(found[4]) * k, found[6])
    return Engine(root, running, total, disk)


def parse(host: str, output: str, previous: HostHealth | None = None) -> HostHealth:
    """``PROGRAM``'s output on ``host``; the CPU figure from its own two samples, else
    from ``previous`` (the same host's last reading), else None."""
    try:
        return _parse(host, output, previous)
    except (ValueError, IndexError) as exc:
        if isinstance(exc, HealthParseError):
            raise
        raise HealthParseError(f"unexpected answer: {exc}") from None


def _parse(host: str, output: str, previous: HostHealth | None) -> HostHealth:
    parts = _sections(output)
    named = dict(parts)
    samples = [lines for name, lines in parts if name == "cpu"]
    if not samples or not samples[0]:
        raise HealthParseError("no /proc/stat in the answer")
    cpus = sum(1 for line in samples[0] if re.match(r"cpu\d+\s", line))
    first = _ticks(samples[0][0])
    last = _ticks(samples[-1][0]) if len(samples) > 1 and samples[-1] else first
    if last is not first:
        cpu = last.busy_since(first)
    elif previous is not None:
        cpu = last.busy_since(previous.ticks)
    else:
        cpu = None
    load = named.get("loadavg", [""])[0].split()
    if len(load) < 3:
        raise HealthParseError("no /proc/loadavg in the answer")
    uptime = named.get("uptime", ["0"])
    mem = _meminfo(named.get("meminfo", []))
    if "MemTotal" not in mem:
        raise HealthParseError("no MemTotal in /proc/meminfo")
    engine: Engine | None = None
    engine_error: str | None = None
    if "docker" in named:
        engine = _engine(named["docker"], named.get("df", []))
    else:
        engine_error = " ".join(named.get("docker-error", [])).strip() or "docker info failed"
    return HostHealth(
        host=host,
        cpus=cpus or 1,
        ticks=last,
        cpu_percent=cpu,
        load=(float(load[0]), float(load[1]), float(load[2])),
        uptime=float(uptime[0].split()[0]) if uptime and uptime[0].split() else 0.0,
        mem_total=mem["MemTotal"],
        mem_available=mem.get("MemAvailable", 0),
        swap_total=mem.get("SwapTotal", 0),
        swap_free=mem.get("SwapFree", 0),
        engine=engine,
        engine_error=engine_error,
    )


def human_bytes(size: int) -> str:
    """``1536`` -> ``1.5K``; powers of 1024, as ``df -h`` and ``free -h`` show them."""
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"
