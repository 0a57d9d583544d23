"""``python -m tests.lab status``: one line per part of the lab, and whether it is healthy."""

from __future__ import annotations

from pathlib import Path

from tests.lab.image import registry_up
from tests.lab.lab import Lab, LabHost, SimHost
from tests.lab.proc import LabError, docker_ping, pid_alive, process_state, read_pid


def describe(root: Path) -> tuple[str, bool]:
    try:
        lab = Lab.load(root)
    except LabError as exc:
        return f"lab: down ({exc})", False
    problems = lab.problems()
    lines = [f"lab at {lab.root}: {'healthy' if not problems else 'UNHEALTHY'}"]
    registry = "up" if registry_up(lab.registry) else "DOWN"
    lines.append(f"  registry {lab.registry}: {registry}; image {lab.image}")
    lines += [f"  {_host_line(lab, h)}" for h in lab.hosts]
    lines += [f"  {_sim_line(lab, h)}" for h in lab.sim_hosts]
    lines += [f"  problem: {problem}" for problem in problems]
    lines += [f"  simulated host problem: {problem}" for problem in lab.sim_problems()]
    return "\n".join(lines), not problems


def _host_line(lab: Lab, host: LabHost) -> str:
    if not pid_alive(host.pid):
        return f"{host.name} {host.address}: GONE (holder {host.pid})"
    engine = "up" if docker_ping(host.docker_socket) else "DOWN"
    containers = "?"
    if engine == "up":
        ps = lab.docker(host, "ps", "-q", timeout=10)
        containers = str(len(ps.stdout.split())) if ps.returncode == 0 else "?"
    pid = read_pid(host.files.sshd_pidfile)
    sshd = "stopped"
    if pid_alive(pid):
        sshd = "FROZEN" if pid is not None and process_state(pid) == "T" else "up"
    try:
        link = Path(f"/sys/class/net/{host.veth}/operstate").read_text().strip()
    except OSError:
        link = "missing"
    return (
        f"{host.name} {host.address}: dockerd {engine} ({containers} running), sshd {sshd} "
        f"({lab.ssh_logins(host)} logins), link {'CUT' if link == 'down' else link}"
    )


def _sim_line(lab: Lab, host: SimHost) -> str:
    if not pid_alive(host.pid):
        return f"{host.name} {host.address}: GONE (holder {host.pid})"
    running = sum(1 for c in host.containers() if c["state"] == "running")
    sshd = "up" if pid_alive(read_pid(host.files.sshd_pidfile)) else "stopped"
    return (
        f"{host.name} {host.address}: simulated, {running} running, sshd {sshd} "
        f"({lab.ssh_logins(host)} logins)"
    )
