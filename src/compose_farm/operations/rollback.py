"""A way back from an update: the image each service ran before, and ``rollback``.

When ``cf update`` (or the web's Update) recreates a service on a new image, the
image it ran before is recorded in ``dockerfarm-log.toml`` (``previous``): its
reference, image id and registry digest, per stack, host and service.
``rollback`` brings that image back without touching a compose file: on the
host it makes the reference name the old image again (``docker tag``; pulled
by digest first when the host no longer has it), then recreates only those
services with ``--pull never``. The image it replaced becomes the record, so a
second ``rollback`` goes forward again; the next ``cf update`` pulls the newest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from compose_farm.executor import Script
from compose_farm.facts import Facts, gather_facts
from compose_farm.operations.lifecycle import Operations
from compose_farm.registry.reference import BadReference, parse_reference

# $1: the reference, $2: the old image id, $3: REPO@DIGEST to pull it by ("": none).
RESTORE_PROGRAM = r"""
if ! docker image inspect "$2" >/dev/null 2>&1; then
  [ -n "$3" ] || {
    echo "the old image is gone from this host and has no registry digest" >&2; exit 1; }
  docker pull "$3" >&2 || exit $?
  docker image inspect "$2" >/dev/null 2>&1 || {
    echo "pulled $3 but it is not image $2" >&2; exit 1; }
fi
docker tag "$2" "$1"
"""

KEY = ("stack", "host", "service")


@dataclass(frozen=True)
class Ran:
    """The image one service ran on one host."""

    stack: str
    host: str
    service: str
    image: str  # the reference it was created from
    image_id: str
    digest: str  # REPO@sha256:... ("" when it never came from a registry)


def images_of(facts: Facts, stacks: Iterable[str]) -> dict[tuple[str, str, str], Ran]:
    """(stack, host, service) -> the image its running container uses."""
    wanted = set(stacks)
    found: dict[tuple[str, str, str], Ran] = {}
    for host, host_facts in facts.hosts.items():
        for c in host_facts.containers:
            stack = facts.stack_of.get((host, c.id))
            info = host_facts.images.get(c.id)
            if stack is None or stack not in wanted or not c.running or info is None:
                continue
            image = info.name or c.image
            found[(stack, host, c.service)] = Ran(
                stack, host, c.service, image, info.image_id, _digest_ref(image, info.repo_digests)
            )
    return found


def _digest_ref(image: str, digests: Sequence[str]) -> str:
    try:
        repo = parse_reference(image).repo_name
    except BadReference:
        return ""
    return next((d for d in digests if d.partition("@")[0] == repo), "")


def replaced(
    before: dict[tuple[str, str, str], Ran], after: dict[tuple[str, str, str], Ran], now: str
) -> list[dict[str, str]]:
    """Pure: the ``previous`` rows for services whose image changed between the two."""
    rows = []
    for key, old in sorted(before.items()):
        new = after.get(key)
        if new is not None and new.image_id != old.image_id:
            rows.append(_row(old, now, new.image_id))
    return rows


def _row(ran: Ran, now: str, replaced_by: str) -> dict[str, str]:
    return {
        "stack": ran.stack,
        "host": ran.host,
        "service": ran.service,
        "image": ran.image,
        "image_id": ran.image_id,
        "digest": ran.digest,
        "replaced_by": replaced_by,
        "replaced_at": now,
    }


def merged(old: Iterable[dict[str, str]], new: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """``old`` rows with those of the same stack, host and service replaced by ``new``."""
    rows = {tuple(r.get(k, "") for k in KEY): r for r in old}
    rows.update({tuple(r[k] for k in KEY): r for r in new})
    return [rows[k] for k in sorted(rows)]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


async def remember(ops: Operations, before: Facts, stacks: Sequence[str]) -> None:
    """After an update: record the image each service ran ``before`` it, where it changed."""
    from compose_farm.digests import read_table, write_log

    after = await gather_facts(ops.config, ops.executor, images=True)
    rows = replaced(images_of(before, stacks), images_of(after, stacks), _now())
    if rows:
        path = ops.config.digest_log_path
        changed = {tuple(r[k] for k in KEY) for r in rows}
        checks = [  # an old "update available" no longer says anything about these
            u
            for u in read_table(path, "updates")
            if tuple(u.get(k, "") for k in KEY) not in changed
        ]
        write_log(path, updates=checks, previous=merged(read_table(path, "previous"), rows))


@dataclass(frozen=True)
class RolledBack:
    """What ``rollback`` did for one service on one host (or why it could not)."""

    stack: str
    host: str
    service: str
    image: str
    to: str  # the image id brought back
    was: str  # the image id it replaced ("" when the service was not running)
    ok: bool
    message: str

    def line(self) -> str:
        """``web/app on h1: nginx:1.27 back to sha256:ab12... (was sha256:cd34...)``."""
        head = f"{self.stack}/{self.service} on {self.host}: {self.image}"
        if not self.ok:
            return f"{head}: {self.message}"
        was = f" (was {_short(self.was)})" if self.was else ""
        return f"{head} back to {_short(self.to)}{was}; {self.message}"


def _short(image_id: str) -> str:
    return image_id[:19]


async def rollback(
    ops: Operations, stack: str, services: Sequence[str] = (), host: str | None = None
) -> list[RolledBack]:
    """Bring back the images ``stack``'s services ran before their last update."""
    from compose_farm.digests import read_table, write_log

    async with ops.exclusive():
        path = ops.config.digest_log_path
        table = read_table(path, "previous")
        rows = [
            r
            for r in table
            if r.get("stack") == stack
            and (not services or r.get("service") in services)
            and host in (None, r.get("host"))
        ]
        if not rows:
            return []
        facts = await gather_facts(ops.config, ops.executor, images=True)
        now_running = images_of(facts, [stack])
        by_host: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_host.setdefault(row["host"], []).append(row)
        results = await asyncio.gather(
            *(_on_host(ops, stack, h, hrows, now_running) for h, hrows in by_host.items())
        )
        done = [r for found in results for r in found]
        swapped = [
            _row(now_running[(r.stack, r.host, r.service)], _now(), r.to)
            for r in done
            if r.ok and (r.stack, r.host, r.service) in now_running
        ]
        if swapped:
            write_log(path, previous=merged(table, swapped))
        return done


async def _on_host(
    ops: Operations,
    stack: str,
    host: str,
    rows: list[dict[str, str]],
    running: dict[tuple[str, str, str], Ran],
) -> list[RolledBack]:
    results: list[RolledBack] = []
    tagged: list[dict[str, str]] = []
    for row in rows:
        service, image, image_id = row["service"], row["image"], row.get("image_id", "")
        was = running.get((stack, host, service))
        script = Script(RESTORE_PROGRAM, (image, image_id, row.get("digest", "")))
        done = await ops.executor.run(host, script, stack=stack, capture=True)
        if not done.ok:
            why = done.error or done.stderr.strip().splitlines()[-1:] or ["failed"]
            message = why if isinstance(why, str) else why[0]
            results.append(RolledBack(stack, host, service, image, image_id, "", False, message))
            continue
        tagged.append(row)
        results.append(
            RolledBack(stack, host, service, image, image_id, was.image_id if was else "", True, "")
        )
    if not tagged:
        return results
    names = [r["service"] for r in tagged]
    ops.info(stack, host, f"recreating {', '.join(names)} on the previous image")
    up = await ops.compose(
        stack, host, "up", "-d", "--force-recreate", "--pull", "never", "--no-deps", *names
    )
    message = "recreated" if up.ok else f"tagged, but up failed: {up.error or up.exit_status}"
    return [
        RolledBack(r.stack, r.host, r.service, r.image, r.to, r.was, r.ok and up.ok, message)
        if r.ok
        else r
        for r in results
    ]
