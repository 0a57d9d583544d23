"""The dashboard's host health: the last readings of each host, and their sparklines.

``HealthHistory`` keeps the last ``size`` readings per host in memory (nothing
on disk: a restart starts the history afresh). It is refreshed from the web
snapshot (``Farm.snapshot``), over the executor the snapshot already holds and
beside its facts, at most once every ``every`` seconds whoever asks: the hosts
panel polls every 30 s, so an open dashboard adds one small round trip per host
about that often, and a closed one none. CPU is the average since the previous
reading (``operations/health.py``); the very first reading has none (it takes
no pause for two samples: the page that asks waits for the round).

``trend_view`` turns a host's readings into what its card shows: texts (masked,
since the Docker root and errors come from the host) and inline SVG polylines
drawn here, on the server (no JavaScript).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from compose_farm.executor import ExecutorProtocol
from compose_farm.hoststats import HostHealth, human_bytes
from compose_farm.operations.health import read_health

HISTORY = 30  # readings kept per host
EVERY = 10.0  # seconds: at most one round this often
SPARK_WIDTH = 60  # the sparkline's viewBox, in its own units
SPARK_HEIGHT = 16

Mask = Callable[[str | None, str], str]


@dataclass(frozen=True)
class Trend:
    """A host's recent readings (oldest first) and, when its last round failed, why."""

    readings: tuple[HostHealth, ...] = ()
    error: str | None = None


@dataclass
class HealthHistory:
    """Recent readings per host, refreshed at most every ``every`` seconds."""

    size: int = HISTORY
    every: float = EVERY
    clock: Callable[[], float] = time.monotonic
    _readings: dict[str, deque[HostHealth]] = field(default_factory=dict, init=False)
    _errors: dict[str, str] = field(default_factory=dict, init=False)
    _taken: float | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def refresh(self, executor: ExecutorProtocol, hosts: Sequence[str]) -> None:
        """Ask ``hosts`` for a reading, unless a round was taken less than ``every`` ago."""
        async with self._lock:
            now = self.clock()
            if self._taken is not None and now - self._taken < self.every:
                return
            self._taken = now
            previous = {  # not a host that was down: its CPU figure would span the outage
                h: r[-1]
                for h, r in self._readings.items()
                if r and h in hosts and h not in self._errors
            }
            # never a pause: a page waits for this round (beside the facts); the first
            # reading of a host has no CPU figure, the next one (from this one) has
            health = await read_health(executor, hosts, previous, pause=0)
            for host in list(self._readings):
                if host not in hosts:  # a host taken out of the config
                    del self._readings[host]
            self._errors = dict(health.unreachable)
            for host, reading in health.readings.items():
                self._readings.setdefault(host, deque(maxlen=self.size)).append(reading)

    def trends(self) -> dict[str, Trend]:
        """Every host's readings as they stand (a copy: the snapshot keeps it)."""
        hosts = dict.fromkeys([*self._readings, *self._errors])
        return {h: Trend(tuple(self._readings.get(h, ())), self._errors.get(h)) for h in hosts}


@dataclass(frozen=True)
class HealthView:
    """What a host card shows of its health (every text masked)."""

    cpu: str  # "12%", or "…" until there are two samples
    load: str
    memory: str
    memory_percent: float
    disk: str  # Docker's data root
    disk_percent: float | None
    containers: str
    root_dir: str
    cpu_line: str  # SVG polyline points, "" with fewer than two figures
    memory_line: str
    error: str | None = None  # the engine's or df's, when it did not answer


def trend_view(trend: Trend | None, mask: Mask) -> HealthView | None:
    """The card's figures from the last reading, sparklines from all; None without any."""
    if trend is None or not trend.readings:
        return None
    last = trend.readings[-1]
    cpu = "…" if last.cpu_percent is None else f"{last.cpu_percent:.0f}%"
    error: str | None = None
    disk, disk_percent, containers, root = "", None, "", ""
    if last.engine is None:
        error = mask(None, f"docker: {last.engine_error}")
    else:
        e = last.engine
        root = mask(None, e.root_dir)
        containers = f"{e.running}/{e.total}"
        if e.disk is None:
            error = mask(None, f"df {e.root_dir}: {e.disk_error}")
        else:
            disk_percent = e.disk.percent
            disk = f"{human_bytes(e.disk.used)} / {human_bytes(e.disk.used + e.disk.available)}"
    return HealthView(
        cpu=cpu,
        load=" ".join(f"{v:.2f}" for v in last.load),
        memory=f"{human_bytes(last.mem_used)} / {human_bytes(last.mem_total)}",
        memory_percent=last.mem_percent,
        disk=disk,
        disk_percent=disk_percent,
        containers=containers,
        root_dir=root,
        cpu_line=polyline([r.cpu_percent for r in trend.readings]),
        memory_line=polyline([r.mem_percent for r in trend.readings]),
        error=error,
    )


def polyline(values: Sequence[float | None], slots: int = HISTORY) -> str:
    """SVG ``points`` for percentages (0-100), newest at the right edge, one slot per
    reading; readings without a figure are left out."""
    known = [(i, v) for i, v in enumerate(values[-slots:]) if v is not None]
    if len(known) < 2:
        return ""
    step = SPARK_WIDTH / max(slots - 1, 1)
    offset = slots - len(values[-slots:])  # a short history starts towards the right
    points = []
    for i, value in known:
        x = (offset + i) * step
        share = max(0.0, min(100.0, value)) / 100.0
        y = SPARK_HEIGHT - 1 - share * (SPARK_HEIGHT - 2)  # 1 unit clear of each edge
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


def trends_of(history: HealthHistory | None) -> Mapping[str, Trend]:
    """``history``'s trends, or none (a snapshot made without one, as in tests)."""
    return {} if history is None else history.trends()
