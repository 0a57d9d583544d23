"""Reading N stacks' compose projects: cf next to Docker Compose reading the same stacks.

No host is contacted: ``cf check --local`` reads the config and every stack's
compose project (what Compose would refuse, bind sources); ``cf traefik-file
--all`` reads every deployed stack's labels and writes the Traefik file. The
stacks are of four real-world shapes, cycled (each with its own ports and a
``.env``): a web app with a database, cache, Traefik labels and middlewares;
a media stack with ``extends``, an inactive profile and a VPN sidecar whose
network the app shares; one that ``include``-s its database; one with an
override file. The bound is Docker Compose itself: ``docker compose config
-q`` in every stack folder, run in parallel threads (one per CPU by default),
in a clean environment as the oracle test runs it.

    python -m bench load [--stacks 200] [--runs 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from bench.table import median_of, print_table
from compose_farm.compose import load_compose
from compose_farm.state import State, render_state

HOSTS = 6
WEB = """\
services:
  app:
    image: ghcr.io/example/web:${{APP_TAG:-1.4}}
    environment:
      DATABASE_URL: postgres://app:${{DB_PASSWORD}}@db/app
      REDIS_URL: redis://cache:6379
    ports: ["{p0}:8080"]
    volumes: ["./uploads:/srv/uploads", "static:/srv/static"]
    depends_on: [db, cache]
    labels:
      traefik.enable: "true"
      traefik.http.routers.{name}.rule: Host(`{name}.${{DOMAIN:-example.com}}`)
      traefik.http.routers.{name}.entrypoints: websecure
      traefik.http.routers.{name}.tls.certresolver: le
      traefik.http.routers.{name}.middlewares: {name}-headers,{name}-strip
      traefik.http.services.{name}.loadbalancer.server.port: "8080"
      traefik.http.middlewares.{name}-headers.headers.stsseconds: "31536000"
      traefik.http.middlewares.{name}-strip.stripprefix.prefixes: /app
  db:
    image: postgres:16
    environment: {{POSTGRES_PASSWORD: "${{DB_PASSWORD}}", POSTGRES_USER: app}}
    volumes: ["pgdata:/var/lib/postgresql/data"]
  cache:
    image: redis:7
    command: ["redis-server", "--save", ""]
volumes:
  static: {{}}
  pgdata: {{}}
"""
COMMON = """\
services:
  base:
    image: lscr.io/linuxserver/base:latest
    environment: {{PUID: "1000", PGID: "1000", TZ: "${{TZ:-UTC}}"}}
    restart: unless-stopped
"""
MEDIA = """\
services:
  vpn:
    image: qmcgaw/gluetun
    cap_add: [NET_ADMIN]
    ports: ["{p0}:8080", "{p1}:6881", "{p1}:6881/udp"]
  torrent:
    extends: {{file: common.yaml, service: base}}
    image: lscr.io/linuxserver/qbittorrent
    network_mode: service:vpn
    labels:
      - traefik.http.routers.{name}-torrent.rule=Host(`torrent.{name}.example.com`)
      - traefik.http.services.{name}-torrent.loadbalancer.server.port=8080
  player:
    extends: {{file: common.yaml, service: base}}
    image: jellyfin/jellyfin
    ports: ["{p2}:8096"]
    volumes: ["./config:/config", "media:/media:ro"]
    labels:
      - traefik.http.routers.{name}-player.rule=Host(`tv.{name}.example.com`)
  transcoder:
    extends: {{file: common.yaml, service: base}}
    image: example/transcoder
    profiles: [gpu]
    devices: ["/dev/dri:/dev/dri"]
volumes:
  media: {{}}
"""
INCLUDED = """\
services:
  db:
    image: mariadb:11
    environment: {{MARIADB_ROOT_PASSWORD: "${{DB_PASSWORD}}"}}
    volumes: ["dbdata:/var/lib/mysql"]
volumes:
  dbdata: {{}}
"""
INCLUDING = """\
include: [db/compose.yaml]
services:
  app:
    image: nextcloud:29
    ports: ["{p0}:80"]
    depends_on: [db]
    labels:
      traefik.http.routers.{name}.rule: Host(`cloud.{name}.example.com`)
      traefik.http.routers.{name}.tls: "true"
"""
BASE = """\
services:
  api:
    image: example/api:${{API_TAG:-2}}
    ports: ["{p0}:3000"]
    labels:
      - traefik.http.routers.{name}-api.rule=Host(`api.{name}.example.com`) && PathPrefix(`/v1`)
      - traefik.http.services.{name}-api.loadbalancer.server.port=3000
  worker:
    image: example/api:${{API_TAG:-2}}
    command: ["worker"]
"""
OVERRIDE = """\
services:
  api:
    environment: {{LOG_LEVEL: debug}}
    labels:
      - traefik.http.routers.{name}-api.middlewares={name}-limit
      - traefik.http.middlewares.{name}-limit.ratelimit.average=50
"""
DOTENV = "DB_PASSWORD=s3cret-{i}\nDOMAIN=example.org\nAPI_TAG=2.{i}\n"
SHAPES: tuple[dict[str, str], ...] = (
    {"compose.yaml": WEB},
    {"compose.yaml": MEDIA, "common.yaml": COMMON},
    {"compose.yaml": INCLUDING, "db/compose.yaml": INCLUDED},
    {"compose.yaml": BASE, "compose.override.yaml": OVERRIDE},
)


def write_farm(root: Path, stacks: int) -> tuple[list[str], Path]:
    """``stacks`` stack folders under ``root/compose``, a config over six hosts and a state
    file where every stack is deployed; returns the stack names and the config path."""
    compose_dir = root / "compose"
    names = [f"load-{i:04d}" for i in range(stacks)]
    for i, name in enumerate(names):
        folder = compose_dir / name
        ports = {f"p{k}": str(20000 + 4 * i + k) for k in range(3)}
        for file, text in SHAPES[i % len(SHAPES)].items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(text.format(name=name, **ports))
        (folder / ".env").write_text(DOTENV.format(i=i))
    hosts = "".join(f"  h{k}: 10.0.0.{k}\n" for k in range(1, HOSTS + 1))
    placed = {n: f"h{i % HOSTS + 1}" for i, n in enumerate(names)}
    config = root / "compose-farm.yaml"
    config.write_text(
        f"compose_dir: {compose_dir}\nhosts:\n{hosts}stacks:\n"
        + "".join(f"  {n}: {h}\n" for n, h in placed.items())
    )
    (root / "compose-farm-state.yaml").write_text(
        render_state(State({n: (h,) for n, h in placed.items()}))
    )
    return names, config


def clean_env(home: Path) -> dict[str, str]:
    """The environment both tools run in: no variable of this shell leaks into a stack."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1"}


def run(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> str:
    """Run a command; fail loudly unless it exits 0; its stdout."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench load")
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    n, runs = args.stacks, args.runs
    docker = shutil.which("docker") or sys.exit("docker is not on PATH")
    cf = shutil.which("cf")
    cf_argv = [cf] if cf else [sys.executable, "-m", "compose_farm"]
    with tempfile.TemporaryDirectory(prefix="cf-bench-load-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        env = clean_env(root / "home")
        names, config = write_farm(root, n)
        folders = [root / "compose" / n for n in names]

        def compose_all() -> None:
            with ThreadPoolExecutor(max_workers=args.threads) as pool:
                list(pool.map(lambda f: run([docker, "compose", "config", "-q"], env, f), folders))

        def cf_reads() -> None:
            for name in names:
                load_compose(root / "compose", name, env)

        traefik = run([*cf_argv, "traefik-file", "--all", "-c", str(config)], env)
        assert traefik.count("rule: ") >= n, "traefik-file routed too little"
        compose = median_of(compose_all, args.runs)
        one = median_of(lambda: run([docker, "compose", "config", "-q"], env, folders[0]), 5)
        cf_rows = [
            (f"cf check --local ({n} stacks)", ["check", "--local"]),
            (f"cf traefik-file --all ({n} stacks)", ["traefik-file", "--all"]),
        ]
        cf_times = [
            (label, median_of(partial(run, [*cf_argv, *words, "-c", str(config)], env), runs))
            for label, words in cf_rows
        ]
        reads = median_of(cf_reads, runs)
    rows = [
        (f"docker compose config -q x {n}, {args.threads} threads (bound)", compose, n),
        *((label, t, n) for label, t in cf_times),
        (f"cf's own reading of the {n} projects, in-process, one thread", reads, n),
        ("docker compose config -q, one stack", one, 1),
    ]
    print_table(
        f"Reading {n} stacks, median of {runs} (python -m bench load --stacks {n})",
        ("what", "wall", "per stack", "vs bound"),
        [
            (label, f"{t:.2f} s", f"{t / count * 1000:.1f} ms", f"{t / compose:.2f}x")
            for label, t, count in rows
        ],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
