"""The web UI's cost over a farm, measured inside its own process (for ``bench scale``).

Builds the app with ``create_app`` over CONFIG, logs in with a one-time token
through Starlette's TestClient, then times requests whose snapshot is taken
anew each time (config, state, one ``docker ps`` per host over fresh SSH
connections, as ``cf web`` does every 2 s): ``GET /`` (the dashboard: hosts,
stacks by host, the pending plan) and ``GET /api/containers`` (the command
palette's list). CPU is the whole process's (the app runs in TestClient's
thread). Prints one JSON object; the first round is a warm-up, not counted.

    python -m bench.scaleweb CONFIG [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from compose_farm.web.app import create_app
from compose_farm.web.auth import Auth
from compose_farm.web.farm import Farm
from compose_farm.web.hosts import AllowedHosts

TOKEN = "bench-scale-token"
PAGES = {"dashboard": "/", "palette": "/api/containers"}


def measure(config: Path, runs: int) -> dict[str, object]:
    """Median wall and CPU seconds per page, and the process's peak RSS (KiB)."""
    app = create_app(config, Auth(token=TOKEN), allowed_hosts=AllowedHosts.of(["testserver"]))
    assert isinstance(app, FastAPI)
    farm: Farm = app.state.farm
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in PAGES}
    sizes: dict[str, int] = {}
    with TestClient(app) as client:
        login = client.get(f"/login?token={TOKEN}", follow_redirects=False)
        assert login.status_code == 303, login.text
        for round_ in range(runs + 1):
            for name, path in PAGES.items():
                farm.invalidate()
                cpu, wall = time.process_time(), time.perf_counter()
                reply = client.get(path, headers={"accept": "text/html"})
                took = (time.perf_counter() - wall, time.process_time() - cpu)
                assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text[:500]}"
                sizes[name] = len(reply.content)
                if round_:
                    samples[name].append(took)
    pages = {
        name: {
            "wall": statistics.median(s[0] for s in values),
            "cpu": statistics.median(s[1] for s in values),
            "bytes": sizes[name],
        }
        for name, values in samples.items()
    }
    return {"pages": pages, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleweb")
    parser.add_argument("config", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.config, args.runs)))


if __name__ == "__main__":
    main()
