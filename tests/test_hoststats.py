"""Host health: the program's answer parsed (real answers from a lab host in
tests/data/hoststats/), a round over a scripted executor, and the web's history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from compose_farm.config import load_config
from compose_farm.executor.fake import ScriptedExecutor
from compose_farm.facts import Facts, HostFacts
from compose_farm.hoststats import PROGRAM, CpuTicks, HealthParseError, human_bytes, parse
from compose_farm.operations.health import health_json, read_health
from compose_farm.state import State
from compose_farm.web.farm import Snapshot
from compose_farm.web.health import SPARK_HEIGHT, HealthHistory, Trend, polyline, trend_view
from compose_farm.web.views import dashboard
from tests.support.web import write_config

DATA = Path(__file__).parent / "data" / "hoststats"


def answer(name: str) -> str:
    return (DATA / f"{name}.txt").read_text()


def test_two_samples_in_one_answer_give_the_cpu_figure() -> None:
    r = parse("h1", answer("two-samples"))
    # the file's first and last "cpu" lines, by hand: 148 user + 110 system + 1 softirq
    # + 1 steal ticks, none idle (the lab machine was saturated when it was recorded)
    assert r.cpu_percent == 100.0
    first = CpuTicks(total=2274196 + 10365 + 902271 + 1096562 + 20462 + 12866 + 13097,
                     idle=1096562 + 20462)  # fmt: skip
    assert r.ticks == CpuTicks(first.total + 260, first.idle)
    assert r.cpus == 2
    assert r.load == (13.99, 10.82, 8.60)
    assert r.uptime == 21743.57
    assert (r.mem_total, r.mem_available) == (24684084 * 1024, 22721688 * 1024)
    assert r.mem_used == (24684084 - 22721688) * 1024
    assert (r.swap_total, r.swap_free) == (0, 0)
    assert r.engine is not None and r.engine_error is None
    assert (r.engine.running, r.engine.total) == (8, 10)
    assert r.engine.root_dir == "/tmp/cf-lab/h1/docker"
    disk = r.engine.disk
    assert disk is not None and disk.filesystem == "/dev/vda"
    assert (disk.total, disk.used, disk.available) == (
        264212084 * 1024,
        26773880 * 1024,
        79617032 * 1024,
    )
    assert round(disk.percent) == 25  # df rounds up: its Capacity column says 26%


def test_one_sample_has_no_cpu_figure_until_there_is_a_previous_reading() -> None:
    first = parse("h1", answer("one-sample"))
    assert first.cpu_percent is None
    later = parse("h1", answer("one-sample-later"), previous=first)
    total = later.ticks.total - first.ticks.total
    idle = later.ticks.idle - first.ticks.idle
    assert total > 0
    assert later.cpu_percent == round(100 * (total - idle) / total, 1)
    # counters that went back (a reboot between readings) give no figure, not a wrong one
    assert parse("h1", answer("one-sample"), previous=later).cpu_percent is None


def test_an_engine_that_does_not_answer_keeps_the_rest_of_the_reading() -> None:
    r = parse("h1", answer("engine-down"))
    assert r.engine is None
    assert r.engine_error == (
        "Cannot connect to the Docker daemon at unix:///nonexistent.sock. "
        "Is the docker daemon running?"
    )
    assert r.mem_total == 24684084 * 1024 and r.load[0] > 0


def test_a_df_that_fails_keeps_the_engines_counts() -> None:
    text = answer("one-sample").replace(
        answer("one-sample").split("--- df\n")[1],
        "df: /gone: No such file or directory\n",
    )
    r = parse("h1", text)
    assert r.engine is not None and r.engine.disk is None
    assert r.engine.disk_error == "df: /gone: No such file or directory"
    assert (r.engine.running, r.engine.total) == (8, 10)


def test_a_data_root_with_spaces_is_read_whole() -> None:
    text = answer("one-sample")
    text = text.replace("--- docker\n/tmp/cf-lab/h1/docker", "--- docker\n/srv/my docker")
    text = text.replace("% /tmp/cf-lab/h1/docker", "% /srv/my docker")
    r = parse("h1", text)
    assert r.engine is not None and r.engine.root_dir == "/srv/my docker"
    assert r.engine.disk is not None and r.engine.disk.mount == "/srv/my docker"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sh: 1: grep: not found\n",
        "--- cpu\nnot a cpu line\n",
        answer("one-sample").replace("MemTotal", "MemTotl"),
        answer("one-sample").split("--- loadavg")[0],
    ],
    ids=["empty", "no-sections", "bad-cpu", "no-memtotal", "cut-short"],
)
def test_an_answer_that_is_not_the_programs_is_an_error_not_zeros(text: str) -> None:
    with pytest.raises(HealthParseError):
        parse("h1", text)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0B"), (1023, "1023B"), (1536, "1.5K"), (24684084 * 1024, "23.5G"), (2**41, "2.0T")],
)
def test_human_bytes(size: int, shown: str) -> None:
    assert human_bytes(size) == shown


def test_a_round_carries_unreachable_hosts_as_such_and_spares_known_hosts_the_pause() -> None:
    fake = ScriptedExecutor()
    fake.on("h1", program=PROGRAM, args=("0.5", ""), out=answer("two-samples"))
    # the next round: one sample, and the data root the first one found (no docker info)
    fake.on("h1", program=PROGRAM, args=("0", "/tmp/cf-lab/h1/docker"), out=answer("one-sample"))
    fake.on("h2", program=PROGRAM, unreachable=True)
    fake.on("h3", program=PROGRAM, out="garbage\n")

    first = asyncio.run(read_health(fake, ["h1", "h2", "h3"]))
    again = asyncio.run(read_health(fake, ["h1"], previous=first.readings))

    assert list(first.readings) == ["h1"]
    assert set(first.unreachable) == {"h2", "h3"}
    assert "h3" in first.unreachable["h3"]
    assert again.readings["h1"].cpu_percent is not None  # from the previous reading
    shown = health_json(first, ["h1", "h2", "h3"])
    assert [(h["host"], h["reachable"]) for h in shown["hosts"]] == [
        ("h1", True),
        ("h2", False),
        ("h3", False),
    ]
    assert "cpu_percent" not in shown["hosts"][1]  # never zeros for a host not read
    assert shown["hosts"][0]["docker"]["containers"] == {"running": 8, "total": 10}
    assert not fake.unused()


def test_the_history_keeps_the_last_readings_and_asks_at_most_every_interval() -> None:
    now = [0.0]
    history = HealthHistory(size=3, every=10.0, clock=lambda: now[0])
    fake = ScriptedExecutor()
    fake.on("h1", program=PROGRAM, out=answer("two-samples"))

    async def rounds() -> None:
        for t in (0.0, 5.0, 10.0, 20.0, 30.0, 40.0):
            now[0] = t
            await history.refresh(fake, ["h1"])

    asyncio.run(rounds())

    assert len(fake.ran("h1")) == 5  # the one at 5 s came too soon
    trend = history.trends()["h1"]
    assert len(trend.readings) == 3 and trend.error is None
    view = trend_view(trend, lambda _stack, text: text.replace("cf-lab", "***"))
    assert view is not None
    assert view.containers == "8/10"
    assert view.root_dir == "/tmp/***/h1/docker"  # host text is masked
    # the same answer thrice: its own two samples give the figure each time
    assert view.cpu == "100%" and view.cpu_line.count(",") == 3


def test_sparkline_points_put_the_newest_reading_at_the_right_edge() -> None:
    assert polyline([50.0]) == ""
    points = polyline([0.0, None, 100.0], slots=3)
    assert points == f"0.0,{SPARK_HEIGHT - 1:.1f} 60.0,1.0"  # 0% at the bottom, 100% at the top
    assert polyline([100.0, 50.0], slots=5) == f"45.0,1.0 60.0,{SPARK_HEIGHT / 2:.1f}"


def test_the_dashboard_shows_health_only_for_hosts_that_answered(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {}))
    h1, h2 = list(config.hosts)[:2]
    reading = parse(h1, answer("two-samples"))
    facts = Facts({h1: HostFacts(h1), h2: HostFacts(h2, error=f"{h2}: connection refused")})
    trends = {h1: Trend((reading,)), h2: Trend((parse(h2, answer("two-samples")),))}
    snap = Snapshot(config, State(), facts, 0.0, health=trends)

    hosts = {h.name: h for h in dashboard(snap, lambda _stack, text: text).hosts}

    assert hosts[h2].health is None  # an old reading is not shown for a host down now
    shown = hosts[h1].health
    assert shown is not None
    assert (shown.cpu, shown.containers, shown.disk_percent) == ("100%", "8/10", 25.2)
    assert shown.memory == "1.9G / 23.5G" and shown.cpu_line == ""  # one reading: no line
