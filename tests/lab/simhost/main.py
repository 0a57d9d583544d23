"""The program: ``docker ARGS`` answered, then slept out to the engine's time, then logged."""

from __future__ import annotations

import json
import os
import sys
import time

from .compose import compose
from .engine import Engine, Refused, latency
from .psformat import docker_ps


def run(
    argv: list[str], environ: dict[str, str], cwd: str
) -> tuple[int, list[str], list[str], float]:
    """Run ``docker ARGV``: exit status, stdout lines, stderr lines, seconds it should take."""
    engine = Engine(environ.get("CFLAB_SIM_ENGINE", "/nonexistent"))
    seconds = latency(environ.get("CFLAB_SIM_LATENCY"))
    out: list[str] = []
    err: list[str] = []
    try:
        if "CFLAB_SIM_ENGINE" not in environ:
            raise Refused("CFLAB_SIM_ENGINE is not set: not a simulated host")
        if argv[:1] == ["ps"]:
            listed = docker_ps(engine, argv[1:], out)
            cost = seconds["ps"] + seconds["ps_per_container"] * listed
        elif argv[:1] == ["compose"]:
            cost = seconds[compose(engine, argv[1:], cwd, out, err)]
        elif argv[:2] == ["network", "inspect"] and len(argv) == 3:
            cost = seconds["other"]
            builtin = {"bridge", "host", "none"}
            if argv[2] not in builtin and argv[2] not in engine.read()["networks"]:
                raise Refused(f"Error response from daemon: network {argv[2]} not found", 1)
            out.append(json.dumps([{"Name": argv[2], "Driver": "bridge"}]))
        elif argv == ["version"] or argv[:2] == ["version", "--format"]:
            cost = seconds["other"]
            out.append("Server: simulated (tests/lab/simhost)")
        else:
            raise Refused(f"docker {' '.join(argv)}: not simulated")
    except Refused as exc:
        return exc.status, out, [*err, str(exc)], seconds["other"] * seconds["scale"]
    return 0, out, err, cost * seconds["scale"]


def _started() -> float:
    """When this process started, on CLOCK_BOOTTIME (so Python's own start-up counts)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    began = _started()
    status, out, err, seconds = run(sys.argv[1:], dict(os.environ), os.getcwd())
    left = began + seconds - time.clock_gettime(time.CLOCK_BOOTTIME)
    if left > 0:
        time.sleep(left)
    for line in err:
        print(line, file=sys.stderr)
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    folder = os.environ.get("CFLAB_SIM_ENGINE")
    if folder and os.path.isdir(folder):
        took = time.clock_gettime(time.CLOCK_BOOTTIME) - began
        line = json.dumps({"argv": sys.argv[1:], "status": status, "took": round(took, 4)})
        with open(os.path.join(folder, "calls.log"), "a", encoding="utf-8") as log:
            log.write(line + "\n")
    return status
