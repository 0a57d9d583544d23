"""`cf stats` (host health) against lab hosts, checked against /proc and the engines directly.

Each host's /proc is read inside the host (``lab.host_exec``: its namespaces), its
containers counted with ``docker ps`` on its engine, its Docker disk with ``df``
there. Figures that move while the test runs (load, uptime, other tests'
containers) are read before and after cf and must lie in between.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from compose_farm.hoststats import human_bytes
from compose_farm.web.health import HealthHistory
from compose_farm.web.views import Dashboard
from tests.lab import Lab
from tests.support.cf import cf_argv, cf_environment, run_cf
from tests.support.config import config_text
from tests.support.farm import Farm
from tests.support.faults import cut
from tests.support.stacks import sleep_stack
from tests.support.waiting import WAIT, eventually
from tests.support.web import context_of, farm_of, web_client

HOSTS = ("h1", "h2")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]


def proc(lab: Lab, host: str, path: str) -> str:
    return lab.host_exec(host, ["cat", path]).stdout


def meminfo(lab: Lab, host: str) -> dict[str, int]:
    found = {}
    for line in proc(lab, host, "/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        found[key] = int(rest.split()[0]) * 1024
    return found


def engine_counts(lab: Lab, host: str) -> tuple[int, int]:
    running = lab.docker(host, "ps", "-q", check=True).stdout.split()
    every = lab.docker(host, "ps", "-aq", check=True).stdout.split()
    return len(running), len(every)


def test_stats_json_matches_proc_and_the_engines(farm: Farm, lab: Lab) -> None:
    farm.stack("busy", "h1", sleep_stack(lab.image, ("a", "b")))
    assert farm.cf("up", "--all").returncode == 0

    # Other tests start and stop containers on these hosts: a round whose engine counts
    # did not change from before cf to after it is compared exactly.
    def one_round() -> tuple[dict[str, Any], dict[str, Any]] | None:
        before = {h: (engine_counts(lab, h), proc(lab, h, "/proc/loadavg")) for h in HOSTS}
        up_before = {h: float(proc(lab, h, "/proc/uptime").split()[0]) for h in HOSTS}
        done = farm.cf("stats", "--json")
        after = {h: (engine_counts(lab, h), proc(lab, h, "/proc/loadavg")) for h in HOSTS}
        assert done.returncode == 0, done
        if any(before[h][0] != after[h][0] for h in HOSTS):
            return None
        report = json.loads(done.stdout)
        return report, {"before": before, "after": after, "uptime": up_before}

    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def stable_round() -> bool:
        found = one_round()
        if found is not None:
            rounds.append(found)
        return found is not None

    assert eventually(stable_round)
    report, seen = rounds[0]

    assert report["unreachable"] == {}
    assert [h["host"] for h in report["hosts"]] == list(HOSTS)
    for row in report["hosts"]:
        host = row["host"]
        assert row["reachable"] is True
        mem = meminfo(lab, host)
        assert row["memory"]["total"] == mem["MemTotal"]
        assert row["swap"]["total"] == mem["SwapTotal"]
        assert abs(row["memory"]["available"] - mem["MemAvailable"]) < mem["MemTotal"] * 0.1
        stat = proc(lab, host, "/proc/stat")
        assert row["cpus"] == len(re.findall(r"^cpu\d+ ", stat, re.MULTILINE))
        assert 0 <= row["cpu_percent"] <= 100
        loads = [
            [float(v) for v in seen[when][host][1].split()[:3]] for when in ("before", "after")
        ]
        for i, value in enumerate(row["load"]):
            low, high = sorted((loads[0][i], loads[1][i]))
            assert low - 0.5 <= value <= high + 0.5, (host, i, value, loads)
        assert row["uptime"] >= seen["uptime"][host]
        running, total = seen["after"][host][0]
        assert row["docker"]["containers"] == {"running": running, "total": total}
        root = lab.docker(host, "info", "--format", "{{.DockerRootDir}}", check=True).stdout
        assert row["docker"]["root_dir"] == root.strip()
        df = lab.host_exec(host, ["df", "-Pk", root.strip()]).stdout.splitlines()[-1].split()
        disk = row["docker"]["disk"]
        assert disk["total"] == int(df[1]) * 1024
        assert abs(disk["used"] - int(df[2]) * 1024) < 2 * 1024**3  # others write meanwhile
    h1 = next(r for r in report["hosts"] if r["host"] == "h1")
    assert h1["docker"]["containers"]["running"] >= 2  # our two at least


def test_an_unreachable_host_is_shown_as_such_never_as_zeros(farm: Farm, lab: Lab) -> None:
    # h2 at a port where nothing listens: refused at once
    hosts: dict[str, dict[str, Any]] = {
        h: {"address": lab.host(h).address, "user": "root"} for h in HOSTS
    }
    hosts["h2"]["port"] = 1
    farm.config_path.write_text(config_text(compose_dir=farm.compose_dir, hosts=hosts))

    done = farm.cf("stats", "--json")

    assert done.returncode == 4, done
    report = json.loads(done.stdout)
    rows = {r["host"]: r for r in report["hosts"]}
    assert rows["h2"] == {"host": "h2", "reachable": False, "error": report["unreachable"]["h2"]}
    assert "refused" in rows["h2"]["error"]
    assert rows["h1"]["reachable"] is True and rows["h1"]["memory"]["total"] > 0

    table = farm.cf("stats")
    assert table.returncode == 4, table
    assert re.search(r"^h2\s+unreachable\s*$", table.stdout, re.MULTILINE), table


def test_live_redraws_in_place_a_bounded_number_of_times(farm: Farm) -> None:
    done = run_cf(
        "stats", "--live", "--interval", "0.5", "--count", "3",
        base=farm.env(), cwd=farm.folder, tty=True, timeout=WAIT,
    )  # fmt: skip

    assert done.returncode == 0, done
    assert "Traceback" not in done.output, done
    frames = done.stdout.count("Ctrl-C to stop")
    assert frames == 3 + 1, done  # a draw per refresh, and the last left on screen at the end
    assert "\x1b[1A" in done.stdout or "\x1b[2K" in done.stdout, done  # cursor moved back up
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout).rpartition("Ctrl-C to stop")[2]
    for host in HOSTS:  # the last frame: CPU from the previous round, every host read
        assert re.search(rf"^{host}\s+\d+\.\d% of \d", last, re.MULTILINE), done


@contextmanager
def on_a_terminal(argv: list[str], env: dict[str, str], cwd: str) -> Iterator[_Terminal]:
    terminal = _Terminal(argv, env, cwd)
    try:
        yield terminal
    finally:
        terminal.close()


class _Terminal:
    """A process whose stdin, stdout and stderr are a pseudo-terminal; output read as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str) -> None:
        master, slave = os.openpty()
        self.master = master
        self.popen = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = b""
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the other end closed
                chunk = b""
            with self.changed:
                self.output += chunk
                self.changed.notify_all()
            if not chunk:
                return

    def wait_for(self, pattern: str, timeout: float = WAIT) -> None:
        regex = re.compile(pattern.encode())
        with self.changed:
            ok = self.changed.wait_for(lambda: regex.search(self.output), timeout)
        assert ok, f"no {pattern!r} in {timeout:g} s:\n{self.output.decode(errors='replace')}"

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self.reader.join(timeout=WAIT)
        os.close(self.master)


def test_ctrl_c_ends_live_cleanly_with_status_0(farm: Farm) -> None:
    env = cf_environment(base=farm.env())
    argv = cf_argv("stats", "--live", "--interval", "0.5")
    with on_a_terminal(argv, env, str(farm.folder)) as terminal:
        terminal.wait_for(r"Ctrl-C to stop")  # the first table is drawn...
        terminal.wait_for(r"(?s)Ctrl-C to stop.*Ctrl-C to stop")  # ...and drawn again
        terminal.popen.send_signal(signal.SIGINT)
        status = terminal.popen.wait(timeout=WAIT)
        terminal.reader.join(timeout=WAIT)
        shown = terminal.output.decode(errors="replace")

    assert status == 0, shown
    assert "Traceback" not in shown and "Interrupted" not in shown, shown
    assert shown.endswith("\n") or shown.endswith("\x1b[?25h"), repr(shown[-40:])
    assert "\x1b[?25h" in shown  # the cursor Rich hid is shown again


def test_the_dashboards_host_cards_show_the_figures_and_their_sparklines(
    farm: Farm, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(lab.client_home))  # the executor's key and known_hosts
    with web_client(farm.config_path) as client:
        web = farm_of(client)
        web.health = HealthHistory(every=0.0)  # a reading at every snapshot, not every 10 s
        for _ in range(3):
            before = {h: engine_counts(lab, h) for h in HOSTS}
            web.invalidate()
            response = client.get("/partials/hosts")
            assert response.status_code == 200, response.text
        after = {h: engine_counts(lab, h) for h in HOSTS}

    html = response.text
    page: Dashboard = context_of(response)["page"]
    for view in page.hosts:
        health = view.health
        assert health is not None, view
        total = meminfo(lab, view.name)["MemTotal"]
        assert health.memory.endswith(f"/ {human_bytes(total)}"), health
        assert re.fullmatch(r"\d+%", health.cpu), health
        # three readings: three memory points; CPU from the second on (the web's first
        # reading takes no pause for a second sample: web/health.py)
        assert health.memory_line.count(",") == 3, health
        assert health.cpu_line.count(",") == 2, health
        if before[view.name] == after[view.name]:  # no other test's container came or went
            assert health.containers == "{}/{}".format(*after[view.name]), health
        card = html.split(f'data-health="{view.name}"', 1)[1].split("</li>", 1)[0]
        assert f'<b data-metric="cpu">{health.cpu}</b>' in card
        assert f'<polyline points="{health.cpu_line}"/>' in card
        assert f'<polyline points="{health.memory_line}"/>' in card
        assert re.search(r'<b data-metric="disk">\d+%</b>', card), card


@pytest.mark.xdist_group("faults")
@pytest.mark.farm(hosts=("h4", "h5"), connect_timeout=3.0, exclusive=True)
def test_live_shows_a_host_that_drops_as_unreachable_and_picks_it_up_again(farm: Farm) -> None:
    """h4, h5: nobody else cuts them while the ``faults`` group runs this."""
    with farm.start("stats", "--live", "--json", "--interval", "0.5") as live:
        live.wait_for(r'"host": "h5", "reachable": true')
        with cut(farm.lab, "h5"):
            line = live.wait_for(r'"host": "h5", "reachable": false')
        row = next(r for r in json.loads(line)["hosts"] if r["host"] == "h5")
        assert set(row) == {"host", "reachable", "error"}, row  # no figures, never zeros
        live.wait_for(r'"host": "h5", "reachable": true')  # over fresh connections
        assert '"host": "h4", "reachable": true' in live.wait_for(r'"host": "h4"')
        live.interrupt()
        done = live.finish(timeout=WAIT)
    assert done.returncode == 0, done
    assert "Traceback" not in done.output, done
