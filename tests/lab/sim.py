"""Simulated hosts: sshd and a ``docker`` stand-in, no engine (``up --sim-hosts N``).

For measuring Compose Farm at a size this machine cannot hold real engines for
(1,000 stacks on 20 hosts). Host ``simK`` is a network namespace on the lab
bridge at ``10.251.0.(100+K)``, with its own mount and UTS namespaces (its own
/root with plain dotfiles, as the real hosts have) and its own sshd. That sshd
puts the stand-in's folder first on PATH and names the host's engine folder
(``SetEnv``), so only SSH sessions of simulated hosts ever meet the stand-in.
What it answers and how long it takes: ``tests/lab/simhost/``.

The real hosts are left alone: simulated hosts are added to (or removed from) a
running lab, and a rebuild of the lab removes them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from tests.lab.lab import Lab, SimHost, enter_argv, start_sshd
from tests.lab.layout import (
    MAX_SIM_HOSTS,
    HostFiles,
    Layout,
    lab_root,
    sim_address,
    sim_name,
    sim_netns,
)
from tests.lab.proc import LabError, kill_cgroup_tree, lab_lock, run
from tests.lab.up import cable, prepare_files, start_holder, write_known_hosts

STAND_IN = Path(__file__).with_name("simhost")
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SHIM = """#!/usr/bin/python3 -IS
import sys

sys.path.insert(0, "{lib}")
from simhost.main import main

sys.exit(main())
"""
_MOUNTS = """
set -e
hostname "$1"
mount -t tmpfs -o mode=755,size=16m cflab-run /run
mkdir -p /run/sshd
mount --bind "$2" /root
"""


def up_sims(
    count: int,
    root: Path | None = None,
    say: Callable[[str], None] = print,
    latency: Mapping[str, float] | None = None,
) -> Lab:
    """The running lab with exactly ``count`` healthy simulated hosts (0: none).

    ``latency`` overrides seconds the stand-in takes per command (kept in the lab's
    ``sim/latency.json`` for later runs). Needs the lab up (``python -m tests.lab up``).
    """
    if not 0 <= count <= MAX_SIM_HOSTS:
        raise LabError(f"--sim-hosts must be 0..{MAX_SIM_HOSTS}, not {count}")
    layout = Layout(root or lab_root())
    with lab_lock(layout):
        lab = Lab.load(layout.root)
        _install(layout, latency or {})
        if len(lab.sim_hosts) == count and not lab.sim_problems():
            return lab
        _stop_all(layout)
        client_key = (layout.client_ssh / "id_ed25519.pub").read_text()
        with ThreadPoolExecutor(max_workers=min(count, 16) or 1) as pool:
            sims = list(pool.map(lambda k: _start(layout, k, client_key), range(1, count + 1)))
        lab = replace(lab, sim_hosts=sims)
        write_known_hosts(layout, [*lab.hosts, *sims])
        fresh = layout.state_file.with_name(".lab.json.new")
        fresh.write_text(lab.to_json())
        fresh.replace(layout.state_file)
    say(f"lab: {count} simulated hosts" + (f", sim1..sim{count}" if count else ""))
    return lab


def write_latency(layout: Layout, latency: Mapping[str, float]) -> dict[str, float]:
    """Merge ``latency`` into the lab's latency file; the figures now in force."""
    current: dict[str, float] = {}
    if layout.sim_latency.exists():
        current = json.loads(layout.sim_latency.read_text())
    current.update(latency)
    layout.sim_latency.parent.mkdir(parents=True, exist_ok=True)
    fresh = layout.sim_latency.with_name(".latency.json.new")
    fresh.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    fresh.replace(layout.sim_latency)
    return current


def _install(layout: Layout, latency: Mapping[str, float]) -> None:
    """The stand-in's package in ``sim/lib``, run as ``sim/bin/docker`` by the system
    Python (each replaced whole: calls under way keep what they started with)."""
    fresh = layout.sim_lib.with_name(".lib.new")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(STAND_IN, fresh / STAND_IN.name, ignore=shutil.ignore_patterns("__pycache__"))
    old = layout.sim_lib.with_name(".lib.old")
    shutil.rmtree(old, ignore_errors=True)
    if layout.sim_lib.exists():
        layout.sim_lib.rename(old)
    fresh.rename(layout.sim_lib)
    shutil.rmtree(old, ignore_errors=True)
    layout.sim_bin.mkdir(parents=True, exist_ok=True)
    program = layout.sim_bin / ".docker.new"
    program.write_text(SHIM.format(lib=layout.sim_lib))
    program.chmod(0o755)
    program.replace(layout.sim_bin / "docker")
    write_latency(layout, latency)


def _start(layout: Layout, index: int, client_key: str) -> SimHost:
    name, address, ns = sim_name(index), sim_address(index), sim_netns(index)
    files = HostFiles(layout.sim_dir(index))
    files.engine.mkdir(parents=True, exist_ok=True)
    env = (
        f"PATH={layout.sim_bin}:{SESSION_PATH} CFLAB_SIM_ENGINE={files.engine} "
        f"CFLAB_SIM_LATENCY={layout.sim_latency}"
    )
    prepare_files(files, name, client_key, address, env)
    cable(ns, address)
    pid = start_holder(files, ns, name)
    run([*enter_argv(pid), "sh", "-c", _MOUNTS, "sh", name, str(files.home)])
    host = SimHost(name, index, address, pid, files.dir)
    start_sshd(host)
    return host


def _stop_all(layout: Layout) -> None:
    """Every simulated host gone: processes, namespaces (their cables go with them), files."""
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        ns = line.split(" ")[0]
        if ns.startswith("cflab-sim"):
            kill_cgroup_tree(below=ns.removeprefix("cflab-"))
            run(["ip", "netns", "delete", ns], check=False)
    for folder in layout.root.glob("sim*"):
        if folder.is_dir() and folder.name.removeprefix("sim").isdigit():
            kill_cgroup_tree(below=folder.name)
            shutil.rmtree(folder)
