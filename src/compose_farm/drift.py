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

from compose_farm.registry.reference import BadReference, parse_reference

HASH_LABEL = "com.docker.compose.config-hash"

# $1: the ps format facts.py reads; $2: "cached" or "fresh" (Compose asked for every
# stack); $3: lines STACK<TAB>FOLDER<TAB>FILE, the files each stack's project reads
# (FILE empty: unknown here, the folder's own files stand in). Prints the listing (as
# facts reads it), then per stack with a container here a record: "stack NAME RC",
# "hash SERVICE DIGEST" lines, then for a stack Compose was asked about afresh its
# resolved config ("json BASE64"), and "err BASE64". Hashes are kept in
# ~/.cache/compose-farm/drift/ with the fingerprint they were computed under (the
# content of every input, Compose's binary, the session's environment) and reused
# while it holds: then Compose is not run and no process is started per stack.
# Then the running containers' env and image and the images' env (only after a
# fresh ask: the plan's details), and the ids the local tags name.
PROGRAM = r"""
fmt=$1 mode=$2 table=$3
docker ps --all --no-trunc --filter label=com.docker.compose.project --format "$fmt" || exit $?
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cache="$HOME/.cache/compose-farm/drift"
mkdir -p -m 700 "$cache" 2>/dev/null
tab=$(printf '\t')
docker ps --all --no-trunc --filter label=com.docker.compose.project \
  --format '{{.Label "com.docker.compose.project.working_dir"}}' | sort -u > "$tmp/here"
printf '%s\n' "$table" > "$tmp/inputs"
# a stack whose inputs are not known here: the files at the top of its folder
grep "$tab\$" "$tmp/inputs" | cut -f1,2 | while IFS="$tab" read -r stack dir; do
  find "$dir" -maxdepth 1 -type f 2>/dev/null | while IFS= read -r f; do
    printf '%s\t%s\t%s\n' "$stack" "$dir" "$f"; done
done >> "$tmp/inputs"
cut -f3 "$tmp/inputs" | grep -v '^$' | sort -u | tr '\n' '\0' |
  xargs -0 -r sha256sum -- > "$tmp/sums" 2>/dev/null
# What else decides Compose's answer: its own binary, and the session's environment.
host=$(ls -lL /usr/libexec/docker/cli-plugins/docker-compose \
  /usr/lib/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose \
  /usr/local/libexec/docker/cli-plugins/docker-compose \
  "$HOME/.docker/cli-plugins/docker-compose" 2>/dev/null
  env | grep -v -E '^(SSH_[A-Z_]*|PWD|OLDPWD|SHLVL|_)=' | sort | sha256sum)
# one awk for every stack: its fingerprint; a hit prints the kept hashes as a record,
# a miss is listed for Compose (its fingerprint in $tmp/NAME.fp, kept after success)
awk -F'\t' -v here="$tmp/here" -v sums="$tmp/sums" -v host="$host" -v cache="$cache" \
  -v tmp="$tmp" -v mode="$mode" '
  FILENAME == here { running[$0] = 1; next }
  FILENAME == sums { sum[substr($0, 67)] = substr($0, 1, 64); next }
  !($2 in running) { next }
  !($1 in dir) { dir[$1] = $2; order[++n] = $1 }
  $3 != "" { fp[$1] = fp[$1] (($3 in sum) ? sum[$3] : "absent") " " $3 "\n" }
  END {
    for (i = 1; i <= n; i++) {
      s = order[i]; m = fp[s] host; kept = ""; f = cache "/" s ".fp"
      while ((getline line < f) > 0) kept = kept line "\n"
      close(f)
      if (mode == "cached" && kept == m "\n") {
        hashes = ""; h = cache "/" s ".hash"; count = 0
        while ((getline line < h) > 0) { hashes = hashes "hash " line "\n"; count++ }
        close(h)
        if (count > 0) { printf "stack %s 0\n%serr \n", s, hashes > (tmp "/hits"); continue }
      }
      print m > (tmp "/" s ".fp"); close(tmp "/" s ".fp")
      print s "\t" dir[s] > (tmp "/misses")
    }
  }' "$tmp/here" "$tmp/sums" "$tmp/inputs"
n=0
fresh=
if [ -f "$tmp/misses" ]; then
  fresh=1
  while IFS="$tab" read -r stack dir; do
    n=$((n + 1))
    [ $((n % 8)) -eq 0 ] && wait  # eight projects read at a time
    printf '%s\n' "$stack" > "$tmp/$n.name"
    (
      cd -- "$dir" 2>"$tmp/$n.err" || { echo 1 > "$tmp/$n.rc"; exit 0; }
      docker compose config --format json > "$tmp/$n.json" 2>>"$tmp/$n.err" &&
        docker compose -f - --project-directory . config --hash '*' \
          < "$tmp/$n.json" > "$tmp/$n.hash" 2>>"$tmp/$n.err"
      rc=$?
      echo $rc > "$tmp/$n.rc"
      if [ $rc -eq 0 ]; then
        keep="$cache/$stack"
        cp "$tmp/$n.hash" "$keep.hash.$$" && mv -f "$keep.hash.$$" "$keep.hash" &&
          cp "$tmp/$stack.fp" "$keep.fp.$$" && mv -f "$keep.fp.$$" "$keep.fp"
      fi
    ) &
  done < "$tmp/misses"
fi
docker images --no-trunc --format '{{json .Repository}} {{json .Tag}} {{json .ID}}' \
  > "$tmp/tags" 2>/dev/null
wait
ids=
[ -n "$fresh" ] && ids=$(docker ps --quiet --no-trunc --filter label=com.docker.compose.project)
if [ -n "$ids" ]; then
  oneoff='{{json (index .Config.Labels "com.docker.compose.oneoff")}}'
  docker inspect --format "{{json .Id}} {{json .Image}} {{json .Config.Env}} $oneoff" \
    $ids > "$tmp/containers" 2>/dev/null
  docker inspect --format '{{.Image}}' $ids 2>/dev/null | sort -u |
    xargs -r docker image inspect --format '{{json .Id}} {{json .Config.Env}}' \
    > "$tmp/images" 2>/dev/null
fi
echo '--- drift'
[ -f "$tmp/hits" ] && cat "$tmp/hits"
b() { if [ -f "$1" ]; then base64 < "$1" | tr -d '\n'; fi; echo; }
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  read -r name < "$tmp/$i.name"
  rc=1
  [ -f "$tmp/$i.rc" ] && read -r rc < "$tmp/$i.rc"
  printf 'stack %s %s\n' "$name" "$rc"
  if [ "$rc" = 0 ]; then
    while read -r line; do printf 'hash %s\n' "$line"; done < "$tmp/$i.hash"
  fi
  printf 'json '; b "$tmp/$i.json"
  printf 'err '; b "$tmp/$i.err"
done
echo '--- env'
[ -f "$tmp/containers" ] && cat "$tmp/containers"
echo '--- image-env'
[ -f "$tmp/images" ] && cat "$tmp/images"
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
    resolved: bool = True  # False: the hashes came from the host's cache, no config with them


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


def _project(rc: str, hashes: list[str], config: str, err: str) -> Project:
    if rc != "0":
        lines = [ln for ln in _text(err).strip().splitlines() if ln.strip()]
        return Project(error=lines[-1] if lines else f"docker compose config: exit status {rc}")
    found: dict[str, str] = {}
    for line in hashes:
        service, _, digest = line.strip().partition(" ")
        if service and digest:
            found[service] = digest
    if not config.strip():  # cached hashes: Compose was not run this time
        return Project(found, resolved=False)
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
    hashes: list[str] = []
    for line in output.splitlines():
        if line.startswith("--- "):
            section = line[4:].strip()
            continue
        if section == "drift":
            word, _, rest = line.partition(" ")
            if word == "stack":
                record, hashes = {"stack": rest}, []
            elif word == "hash":
                hashes.append(rest)
            else:
                record[word] = rest
            if word == "err" and "stack" in record:
                name, _, rc = record["stack"].partition(" ")
                projects[name] = _project(rc, hashes, record.get("json", ""), rest)
                record, hashes = {}, []
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
    ``docker images`` lists them); what is not a plain tagged reference stays as it is."""
    try:
        return parse_reference(image).familiar
    except BadReference:
        return image


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
            if not project.resolved or _replicas(config) > 0:
                drifts.append(ServiceDrift(service, ("not created",)))
            continue
        changes: list[str] = []
        first = have[0].id
        was = have[0].image
        image = str(config.get("image") or "") if project.resolved else was
        if any(c.config_hash != project.hashes[service] for c in have):
            what = _env_changes(config, first, details) if project.resolved else []
            if image and was and not was.startswith("sha256:") and was != image:
                what.insert(0, f"image {was} -> {image}")
            changes += what or ["configuration changed (compose file, .env or variables)"]
        ref = normal_reference(image) if image and not image.startswith("sha256:") else ""
        now = details.tags.get(ref)
        if now is not None and details.image_of.get(first) not in (None, now):
            changes.append(f"a newer {ref} is on the host, not yet running")
        wanted = _replicas(config)
        if ("deploy" in config or "scale" in config) and wanted != len(have):
            changes.append(f"{len(have)} containers, scale says {wanted}")
        if changes:
            drifts.append(ServiceDrift(service, tuple(dict.fromkeys(changes))))
    return StackDrift(stack, host, tuple(drifts)) if drifts else None
