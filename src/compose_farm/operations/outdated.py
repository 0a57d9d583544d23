"""``outdated``: which running services have a newer image in their registry. Pulls nothing.

For every running container of the stacks asked about: the reference it was
created from (so a tag set in ``.env`` or a variable is the one resolved), and
the registry digests its image was pulled under (``RepoDigests``), all from the
one round trip ``facts`` makes. Then each distinct reference is asked of its
registry once (``registry/client.py``), with the access Docker on a host that
runs it has (``registry/access.py``), many at a time. A service is "up to date"
only when the registry's digest is among its image's; a registry that cannot
be asked, or an image that never came from one, is "unknown". The results, and
when they were checked, go to ``dockerfarm-log.toml`` (``updates``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.facts import Facts, gather_facts
from compose_farm.operations.lifecycle import Operations
from compose_farm.registry.access import HELPER_PROGRAM, PROGRAM, HostAccess, parse_access
from compose_farm.registry.client import Access, Latest, latest_digest
from compose_farm.registry.reference import BadReference, Reference, parse_reference

CONCURRENCY = 16  # registry requests at once


class Status(StrEnum):
    """What ``outdated`` found for one service."""

    CURRENT = "up to date"
    UPDATE = "update available"
    UNKNOWN = "unknown"
    PINNED = "pinned"


@dataclass(frozen=True)
class ServiceCheck:
    """One running service on one host, its image, and what the registry says."""

    stack: str
    host: str
    service: str
    image: str
    status: Status
    running: str = ""  # the registry digest it runs ("" when none)
    latest: str = ""  # the digest its tag names in the registry now
    reason: str = ""  # for UNKNOWN and PINNED
    checked: str = ""  # ISO time, UTC

    def line(self) -> str:
        """``web/app on h1: nginx:1.27: update available``."""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.stack}/{self.service} on {self.host}: {self.image}: {self.status}{why}"


@dataclass(frozen=True)
class _Running:
    stack: str
    host: str
    service: str
    image: str
    digests: tuple[str, ...]  # RepoDigests entries


def running_images(facts: Facts, stacks: Iterable[str]) -> list[_Running]:
    """Each running container of ``stacks``: where, which service, which reference."""
    wanted = set(stacks)
    found: list[_Running] = []
    for host, host_facts in facts.hosts.items():
        for c in host_facts.containers:
            stack = facts.stack_of.get((host, c.id))
            info = host_facts.images.get(c.id)
            if stack not in wanted or not c.running or stack is None:
                continue
            image = (info.name if info is not None else "") or c.image
            digests = info.repo_digests if info is not None else ()
            found.append(_Running(stack, host, c.service, image, digests))
    return sorted(found, key=lambda r: (r.stack, r.service, r.host))


def judge(item: _Running, ref: Reference | None, latest: Latest | None, now: str) -> ServiceCheck:
    """Pure: one service's status from its image's digests and the registry's answer."""
    base = ServiceCheck(
        item.stack, item.host, item.service, item.image, Status.UNKNOWN, checked=now
    )
    if ref is None:
        return replace(base, reason="not an image reference cf can read")
    if ref.tag is None:
        return replace(base, status=Status.PINNED, running=ref.digest or "", reason="by digest")
    mine = [d.partition("@")[2] for d in item.digests if d.partition("@")[0] == ref.repo_name]
    running = mine[0] if mine else ""
    if not mine:
        return replace(base, reason="built or loaded on the host: no registry digest")
    if latest is None or latest.digest is None:
        why = latest.error if latest is not None else "not asked"
        return replace(base, running=running, reason=why or "no answer")
    if latest.digest in mine:
        return replace(base, status=Status.CURRENT, running=latest.digest, latest=latest.digest)
    return replace(base, status=Status.UPDATE, running=running, latest=latest.digest)


def _reference(image: str) -> Reference | None:
    try:
        return parse_reference(image)
    except BadReference:
        return None


async def _host_access(executor: ExecutorProtocol, hosts: Sequence[str]) -> dict[str, HostAccess]:
    async def one(host: str) -> HostAccess:
        done = await executor.run(host, Script(PROGRAM), capture=True)
        return parse_access(done.stdout) if done.ok else HostAccess()

    found = await asyncio.gather(*(one(h) for h in hosts))
    return dict(zip(hosts, found, strict=True))


async def _access(
    executor: ExecutorProtocol, host: str, known: HostAccess, registry: str
) -> Access:
    """``known``'s access to ``registry``, asking the host's credential helper when
    Docker there would."""
    helper = known.helper_for(registry)
    if helper is None:
        return known.access(registry)
    server = "https://index.docker.io/v1/" if registry == "docker.io" else registry
    done = await executor.run(host, Script(HELPER_PROGRAM, (helper, server)), capture=True)
    try:
        answer = json.loads(done.stdout) if done.ok else None
    except ValueError:
        answer = None
    return known.access(registry, answer if isinstance(answer, dict) else None)


async def check_updates(
    ops: Operations, stacks: Sequence[str], *, now: str | None = None
) -> tuple[list[ServiceCheck], Facts]:
    """The checks for ``stacks``' running services (see the module's docstring)."""
    import httpx

    checked = now or datetime.now(UTC).replace(microsecond=0).isoformat()
    facts = await gather_facts(ops.config, ops.executor, images=True)
    items = running_images(facts, stacks)
    refs = {item.image: _reference(item.image) for item in items}
    asked: dict[str, tuple[str, Reference]] = {}  # familiar -> (a host that runs it, ref)
    for item in items:
        ref = refs[item.image]
        if ref is not None and ref.tag is not None:
            asked.setdefault(ref.familiar, (item.host, ref))
    hosts = sorted({host for host, _ in asked.values()})
    known = await _host_access(ops.executor, hosts)
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, follow_redirects=True) as client:

        async def ask(host: str, ref: Reference) -> Latest:
            async with gate:
                access = await _access(ops.executor, host, known[host], ref.registry)
                return await latest_digest(client, ref, access)

        answers = await asyncio.gather(*(ask(h, r) for h, r in asked.values()))
    latest = dict(zip(asked, answers, strict=True))
    checks = []
    for item in items:
        ref = refs[item.image]
        answer = latest.get(ref.familiar) if ref is not None else None
        checks.append(judge(item, ref, answer, checked))
    return checks, facts


def log_entries(checks: Iterable[ServiceCheck]) -> list[Mapping[str, str]]:
    """``dockerfarm-log.toml``'s ``updates`` table."""
    return [{k: str(v) for k, v in asdict(c).items()} for c in checks]


async def outdated(ops: Operations, stacks: Sequence[str]) -> tuple[list[ServiceCheck], Facts]:
    """``check_updates`` under the farm lock, its results written to the log."""
    from compose_farm.digests import read_table, write_log

    async with ops.exclusive():
        checks, facts = await check_updates(ops, stacks)
        path = ops.config.digest_log_path
        asked = set(stacks)
        kept = [u for u in read_table(path, "updates") if u.get("stack") not in asked]
        write_log(path, updates=[*kept, *log_entries(checks)])
    return checks, facts
