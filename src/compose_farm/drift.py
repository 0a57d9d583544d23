"""Config drift: running containers that no longer match their compose project.

Compose stamps each container with a hash of its service's resolved
configuration (``com.docker.compose.config-hash``); ``docker compose up``
recreates a service exactly when that hash differs from the one it computes
now. cf asks Compose for the hash the same way ``up`` computes it: the project
resolved (``config --format json``: ``.env``, interpolation, ``env_file:``
contents, ``extends``, ``include``) and that resolved project hashed
(``config --hash '*'`` reading it back). A plain ``config --hash`` is not the
same: it hashes an ``env_file:`` by its name, never matching what ``up``
stamped (tests/e2e/test_drift.py shows both on the lab).

The hash says whether, not what; for the plan's line, the image reference and
the environment the project resolves are compared with the container's (the
image's own variables left out), naming variables, never values. Beside the
hash: an image pulled under the same tag (the hash is of the reference; the id
the tag names on the host now is compared with the container's), services
added or removed, and ``scale:``/``deploy.replicas`` (not in the hash).

Everything is gathered in the round trip ``facts`` makes anyway (``PROGRAM``),
for stacks with a container on the host. Pure apart from the program's text.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HASH_LABEL = "com.docker.compose.config-hash"

# $1: the ps format facts.py reads; then pairs STACK FOLDER. The listing first (as
# facts reads it), then, for each stack with a container here, its resolved config
# and the hashes of that config, each base64 on one line; then the running
# containers' env and image, the images' env, and the ids the local tags name.
PROGRAM = r"""
fmt=$1; shift
docker ps --all --no-trunc --filter label=com.docker.compose.project --format "$fmt" || exit $?
here=$(docker ps --all --no-trunc --filter label=com.docker.compose.project \
  --format '{{.Label "com.docker.compose.project.working_dir"}}' | sort -u)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
while [ $# -ge 2 ]; do
  stack=$1 dir=$2
  shift 2
  printf '%s\n' "$here" | grep -qxF -- "$dir" || continue
  n=$((n + 1))
  [ $((n % 8)) -eq 0 ] && wait  # eight projects read at a time
  printf '%s\n' "$stack" > "$tmp/$n.name"
  (
    cd -- "$dir" 2>"$tmp/$n.err" || { echo 1 > "$tmp/$n.rc"; exit 0; }
    docker compose config --format json > "$tmp/$n.json" 2>>"$tmp/$n.err" &&
      docker compose -f - --project-directory . config --hash '*' \
        < "$tmp/$n.json" > "$tmp/$n.hash" 2>>"$tmp/$n.err"
    echo $? > "$tmp/$n.rc"
  ) &
done
ids=$(docker ps --quiet --no-trunc --filter label=com.docker.compose.project)
if [ -n "$ids" ]; then
  oneoff='{{json (index .Config.Labels "com.docker.compose.oneoff")}}'
  docker inspect --format "{{json .Id}} {{json .Image}} {{json .Config.Env}} $oneoff" \
    $ids > "$tmp/containers" 2>/dev/null
  docker inspect --format '{{.Image}}' $ids 2>/dev/null | sort -u |
    xargs -r docker image inspect --format '{{json .Id}} {{json .Config.Env}}' \
    > "$tmp/images" 2>/dev/null
fi
docker images --no-trunc --format '{{json .Repository}} {{json .Tag}} {{json .ID}}' \
  > "$tmp/tags" 2>/dev/null
wait
echo '--- drift'
b() { if [ -f "$1" ]; then base64 < "$1" | tr -d '\n'; fi; echo; }
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  printf 'stack %s %s\n' "$(cat "$tmp/$i.name")" "$(cat "$tmp/$i.rc" 2>/dev/null || echo 1)"
  printf 'hash '; b "$tmp/$i.hash"
  printf 'json '; b "$tmp/$i.json"
  printf 'err '; b "$tmp/$i.err"
done
echo '--- env'
cat "$tmp/containers" 2>/dev/null
echo '--- image-env'
cat "$tmp/images" 2>/dev/null
echo '--- tags'
cat "$tmp/tags" 2>/dev/null
exit 0
"""


@dataclass(frozen=True)
class Project:
    """What Compose makes of one stack's folder on one host now."""

    hashes: Mapping[str, str] = field(default_factory=dict)  # service -> config hash
    services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # resolved config
    error: str | None = None  # Compose could not read the project


@dataclass(frozen=True)
class HostDetails:
    """One host's drift material: each stack's project, containers' env, images."""

    projects: Mapping[str, Project] = field(default_factory=dict)
    env: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # container id -> env
    image_of: Mapping[str, str] = field(default_factory=dict)  # container id -> image id
    oneoff: frozenset[str] = frozenset()  # ids of `docker compose run` containers
    image_env: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # image id -> env
    tags: Mapping[str, str] = field(default_factory=dict)  # repo:tag -> image id


def _text(encoded: str) -> str:
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode(errors="replace")
    except (binascii.Error, ValueError):
        return ""


def _project(rc: str, hashes: str, config: str, err: str) -> Project:
    if rc != "0":
        lines = [ln for ln in _text(err).strip().splitlines() if ln.strip()]
        return Project(error=lines[-1] if lines else f"docker compose config: exit status {rc}")
    found: dict[str, str] = {}
    for line in _text(hashes).splitlines():
        service, _, digest = line.strip().partition(" ")
        if service and digest:
            found[service] = digest
    try:
        services = json.loads(_text(config)).get("services") or {}
    except (json.JSONDecodeError, AttributeError):
        return Project(error="docker compose config --format json: unreadable output")
    if not isinstance(services, dict):
        services = {}
    return Project(found, {str(k): v for k, v in services.items() if isinstance(v, dict)})


def _json_words(line: str, count: int) -> list[Any] | None:
    """``count`` JSON values separated by single spaces (none holds a bare space)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at = 0
    try:
        for _ in range(count):
            value, at = decoder.raw_decode(line, at)
            values.append(value)
            at += 1
    except json.JSONDecodeError:
        return None
    return values


def parse(output: str) -> HostDetails:
    """The sections ``PROGRAM`` prints after ``--- drift``."""
    projects: dict[str, Project] = {}
    env: dict[str, tuple[str, ...]] = {}
    image_of: dict[str, str] = {}
    oneoff: set[str] = set()
    image_env: dict[str, tuple[str, ...]] = {}
    tags: dict[str, str] = {}
    section = "drift"
    record: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("--- "):
            section = line[4:].strip()
            continue
        if section == "drift":
            word, _, rest = line.partition(" ")
            record[word] = rest
            if word == "err" and "stack" in record:
                name, _, rc = record["stack"].partition(" ")
                projects[name] = _project(rc, record.get("hash", ""), record.get("json", ""), rest)
                record = {}
        elif section == "env":
            row = _json_words(line, 4)
            if row is not None and isinstance(row[0], str):
                env[row[0]] = tuple(str(v) for v in row[2] or [])
                image_of[row[0]] = str(row[1])
                if str(row[3]).lower() == "true":
                    oneoff.add(row[0])
        elif section == "image-env":
            row = _json_words(line, 2)
            if row is not None:
                image_env[str(row[0])] = tuple(str(v) for v in row[1] or [])
        elif section == "tags":
            row = _json_words(line, 3)
            if row is not None and row[1] != "<none>" and row[0] != "<none>":
                tags[f"{row[0]}:{row[1]}"] = str(row[2])
    return HostDetails(projects, env, image_of, frozenset(oneoff), image_env, tags)


def normal_reference(image: str) -> str:
    """``nginx`` -> ``nginx:latest``; ``docker.io/library/x:1`` -> ``x:1`` (as
    ``docker images`` lists them); a reference by digest is returned as it is."""
    if "@" in image:
        return image
    name, tag = image, "latest"
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = image.rpartition(":")
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return f"{name}:{tag}"


@dataclass(frozen=True)
class ServiceDrift:
    """One service of a stack on a host that differs from its compose project, and how."""

    service: str
    changes: tuple[str, ...]

    def describe(self) -> str:
        """``web: environment: DB_HOST changed``."""
        return f"{self.service}: {'; '.join(self.changes)}"


@dataclass(frozen=True)
class StackDrift:
    """What differs for one stack on one host (or why it could not be compared)."""

    stack: str
    host: str
    services: tuple[ServiceDrift, ...] = ()
    error: str | None = None

    @property
    def recreate(self) -> tuple[str, ...]:
        """The services ``up`` must recreate or create (not those only removed)."""
        return tuple(s.service for s in self.services if s.changes != (REMOVED,))

    @property
    def orphans(self) -> bool:
        """Containers of services the project no longer has."""
        return any(s.changes == (REMOVED,) for s in self.services)


REMOVED = "no longer in the compose project"


@dataclass(frozen=True)
class Running:
    """The bits of one container drift compares (from facts and ``HostDetails``)."""

    id: str
    service: str
    config_hash: str
    running: bool
    image: str = ""  # the reference it was created from, as `docker ps` shows it


def _env(pairs: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if sep:
            found[key] = value
    return found


def _wanted_env(config: Mapping[str, Any]) -> dict[str, str]:
    raw = config.get("environment") or {}
    if isinstance(raw, list):  # not what `config --format json` prints, but cheap to read
        raw = dict(_env(str(v) for v in raw))
    if not isinstance(raw, dict):
        return {}
    # null: passed through from Compose's own environment (unknown here): not compared
    return {str(k): str(v) for k, v in raw.items() if v is not None}


def _env_changes(config: Mapping[str, Any], container: str, details: HostDetails) -> list[str]:
    wanted = _wanted_env(config)
    if container not in details.env:  # the host could not say: nothing to compare
        return []
    have = _env(details.env[container])
    image = _env(details.image_env.get(details.image_of.get(container, ""), ()))
    changed = sorted(k for k, v in wanted.items() if k in have and have[k] != v)
    added = sorted(k for k in wanted if k not in have)
    removed = sorted(
        k for k, v in have.items() if k not in wanted and (k not in image or image[k] != v)
    )
    words = [f"{k} changed" for k in changed] + [f"{k} added" for k in added]
    words += [f"{k} removed" for k in removed]
    return [f"environment: {', '.join(words)}"] if words else []


def _replicas(config: Mapping[str, Any]) -> int:
    scale = config.get("scale")
    deploy = config.get("deploy") or {}
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    for value in (replicas, scale):
        if isinstance(value, int) and value >= 0:
            return value
    return 1


def compare(
    stack: str, host: str, containers: Sequence[Running], details: HostDetails
) -> StackDrift | None:
    """How ``stack``'s containers on ``host`` differ from its project; ``None`` when they
    do not (or the stack has no container there to compare)."""
    project = details.projects.get(stack)
    mine = [c for c in containers if c.id not in details.oneoff]
    if project is None or not mine:
        return None
    if project.error is not None:
        return StackDrift(stack, host, error=project.error)
    by_service: dict[str, list[Running]] = {}
    for c in mine:
        by_service.setdefault(c.service, []).append(c)
    drifts: list[ServiceDrift] = []
    for service in sorted(set(project.hashes) | set(by_service)):
        have = by_service.get(service, [])
        config = project.services.get(service, {})
        if service not in project.hashes:
            if any(c.running for c in have):
                drifts.append(ServiceDrift(service, (REMOVED,)))
            continue
        if not have:
            if _replicas(config) > 0:
                drifts.append(ServiceDrift(service, ("not created",)))
            continue
        changes: list[str] = []
        first = have[0].id
        image = str(config.get("image") or "")
        if any(c.config_hash != project.hashes[service] for c in have):
            what = _env_changes(config, first, details)
            was = have[0].image
            if image and was and not was.startswith("sha256:") and was != image:
                what.insert(0, f"image {was} -> {image}")
            changes += what or ["configuration changed (compose file, .env or variables)"]
        ref = normal_reference(image) if image else ""
        now = details.tags.get(ref)
        if now is not None and details.image_of.get(first) not in (None, now):
            changes.append(f"a newer {ref} is on the host, not yet running")
        wanted = _replicas(config)
        if ("deploy" in config or "scale" in config) and wanted != len(have):
            changes.append(f"{len(have)} containers, scale says {wanted}")
        if changes:
            drifts.append(ServiceDrift(service, tuple(dict.fromkeys(changes))))
    return StackDrift(stack, host, tuple(drifts)) if drifts else None
