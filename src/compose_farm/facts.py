"""What runs where: one ``docker ps`` per host, all hosts at once.

Each host answers with every Compose-managed container it has (running or
not), described by Compose's own labels. A container belongs to a stack when
its project's working folder is ``compose_dir/<stack>`` (so a compose file with
its own ``name:`` is still recognised), or else when its project is named like
the stack. A host that cannot be reached is recorded as such: unreachable is
never the same as "nothing running".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import PurePosixPath

from compose_farm.config import Config
from compose_farm.drift import PROGRAM as DRIFT_PROGRAM
from compose_farm.drift import HostDetails, Project, Running, StackDrift, compare
from compose_farm.drift import parse as parse_details
from compose_farm.executor import Command, ExecutorProtocol, Runnable, Script

# One JSON array per container; `json` quotes every value so tabs or commas in
# labels cannot break the parse.
_FIELDS = (
    "{{json .ID}}",
    '{{json (.Label "com.docker.compose.project")}}',
    '{{json (.Label "com.docker.compose.service")}}',
    '{{json (.Label "com.docker.compose.project.working_dir")}}',
    "{{json .Names}}",
    "{{json .Image}}",
    "{{json .State}}",
    "{{json .Status}}",
    "{{json .Ports}}",
    '{{json (.Label "com.docker.compose.config-hash")}}',
)
PS_FORMAT = "[" + ",".join(_FIELDS) + "]"


# The same listing, then each running container's image id and that image's
# repo digests, still in one round trip (for `cf refresh`'s digest log).
IMAGES_PROGRAM = r"""
docker ps --all --no-trunc --filter label=com.docker.compose.project --format "$1" || exit $?
echo '--- containers'
ids=$(docker ps --quiet --no-trunc --filter label=com.docker.compose.project)
[ -n "$ids" ] || exit 0
# Containers may come and go between these commands: what vanished is skipped.
docker inspect --format '{{json .Id}} {{json .Image}} {{json .Config.Image}}' $ids 2>/dev/null
echo '--- images'
docker inspect --format '{{.Image}}' $ids 2>/dev/null | sort -u |
  xargs -r docker image inspect --format '{{json .Id}} {{json .RepoDigests}}' 2>/dev/null
exit 0
"""


def ps_command() -> Command:
    """The one command each host runs for its facts."""
    return Command(
        argv=(
            "docker",
            "ps",
            "--all",
            "--no-trunc",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            PS_FORMAT,
        )
    )


@dataclass(frozen=True)
class Container:
    """One Compose-managed container on one host."""

    host: str
    id: str
    project: str
    service: str
    working_dir: str
    name: str
    image: str
    state: str
    status: str
    ports: str
    config_hash: str = ""  # Compose's hash of the service's configuration when created

    @property
    def running(self) -> bool:
        """Up (or restarting/paused: it exists and is meant to be up)."""
        return self.state in {"running", "restarting", "paused"}

    @property
    def crashed(self) -> bool:
        """Stopped with a non-zero exit code (killed or failed); ``Exited (0)`` is a done job."""
        if self.state not in {"exited", "dead"}:
            return False
        code = self.status.partition("(")[2].partition(")")[0]
        return not (code.isdigit() and int(code) == 0)


@dataclass(frozen=True)
class ImageInfo:
    """The image a running container uses: its id, the registry digests it has, and the
    name it was created from (``docker ps`` shows an id once its tag moved on)."""

    image_id: str
    repo_digests: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class HostFacts:
    """One host's containers (and, when asked, their images), or why it could not be asked."""

    host: str
    containers: tuple[Container, ...] = ()
    error: str | None = None
    images: Mapping[str, ImageInfo] = field(default_factory=dict)
    details: HostDetails | None = None  # with ``drift``: what Compose makes of each stack now

    @property
    def reachable(self) -> bool:
        """True when the host answered."""
        return self.error is None


@dataclass(frozen=True)
class Facts:
    """Every asked host's answer, and which stack each container belongs to."""

    hosts: dict[str, HostFacts]
    stack_of: dict[tuple[str, str], str] = field(default_factory=dict)

    def drift(self) -> dict[tuple[str, str], StackDrift]:
        """(stack, host) -> how its containers there differ from its compose project,
        for hosts asked with ``drift`` (only stacks that differ, or could not be read)."""
        found: dict[tuple[str, str], StackDrift] = {}
        for stack, containers in self._by_stack.items():
            for host in dict.fromkeys(c.host for c in containers):
                details = self.hosts[host].details
                if details is None:
                    continue
                here = [
                    Running(c.id, c.service, c.config_hash, c.running, c.image)
                    for c in containers
                    if c.host == host
                ]
                drift = compare(stack, host, here, details)
                if drift is not None:
                    found[(stack, host)] = drift
        return found

    def unreachable(self) -> dict[str, str]:
        """Host -> reason, for hosts that did not answer."""
        return {h: f.error for h, f in self.hosts.items() if f.error is not None}

    def containers(self, stack: str | None = None) -> list[Container]:
        """Containers (of ``stack`` when given), host by host."""
        if stack is None:
            return [c for f in self.hosts.values() for c in f.containers]
        return list(self._by_stack.get(stack, ()))

    @cached_property
    def _by_stack(self) -> dict[str, list[Container]]:
        """Each recognised stack's containers, host by host: built once, since callers ask
        stack by stack (a scan of every container per stack grew with stacks squared)."""
        found: dict[str, list[Container]] = {}
        for c in self.containers():
            stack = self.stack_of.get((c.host, c.id))
            if stack is not None:
                found.setdefault(stack, []).append(c)
        return found

    def running_hosts(self, stack: str) -> tuple[str, ...]:
        """Hosts where ``stack`` has at least one running container."""
        return tuple(dict.fromkeys(c.host for c in self.containers(stack) if c.running))

    def degraded(self) -> dict[str, tuple[str, ...]]:
        """Stack -> hosts where it runs but some of its containers crashed."""
        result: dict[str, list[str]] = {}
        running = self.stacks_running()
        for c in self.containers():
            stack = self.stack_of.get((c.host, c.id))
            if stack is not None and c.crashed and c.host in running.get(stack, ()):
                hosts = result.setdefault(stack, [])
                if c.host not in hosts:
                    hosts.append(c.host)
        return {s: tuple(h) for s, h in sorted(result.items())}

    def stacks_present(self) -> dict[str, tuple[str, ...]]:
        """Every recognised stack with containers (running or stopped) -> its hosts."""
        result: dict[str, list[str]] = {}
        for c in self.containers():
            stack = self.stack_of.get((c.host, c.id))
            if stack is not None and c.host not in result.setdefault(stack, []):
                result[stack].append(c.host)
        return {s: tuple(h) for s, h in sorted(result.items())}

    def stacks_running(self) -> dict[str, tuple[str, ...]]:
        """Every recognised stack with running containers -> its hosts."""
        result: dict[str, list[str]] = {}
        for c in self.containers():
            stack = self.stack_of.get((c.host, c.id))
            if stack is not None and c.running and c.host not in result.setdefault(stack, []):
                result[stack].append(c.host)
        return {s: tuple(h) for s, h in sorted(result.items())}


def parse_ps(host: str, output: str) -> list[Container]:
    """Parse the JSON-array lines of ``ps_command``; skips lines it cannot read."""
    containers: list[Container] = []
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, list) or len(row) != len(_FIELDS):
            continue
        cid, project, service, workdir, name, image, state, status, ports, digest = (
            str(v) if v is not None else "" for v in row
        )
        containers.append(
            Container(
                host, cid, project, service, workdir, name, image, state, status, ports, digest
            )
        )
    return containers


def assign_stacks(config: Config, containers: Iterable[Container]) -> dict[tuple[str, str], str]:
    """Map (host, container id) to the configured stack it belongs to."""
    by_project = {name.lower(): name for name in config.stacks}
    owners: dict[tuple[str, str], str] = {}
    for c in containers:
        stack: str | None = None
        workdir = PurePosixPath(c.working_dir) if c.working_dir else None
        if workdir is not None and workdir.parent == config.compose_dir:
            stack = workdir.name
        elif c.project in by_project:
            stack = by_project[c.project]
        if stack is not None:
            owners[(c.host, c.id)] = stack
    return owners


def parse_images(output: str) -> dict[str, ImageInfo]:
    """Container id -> image info, from the two sections ``IMAGES_PROGRAM`` adds."""
    containers, _, images = output.partition("--- images\n")
    by_image: dict[str, tuple[str, ...]] = {}
    for line in images.splitlines():
        image_id, _, digests = line.partition(" ")
        try:
            by_image[str(json.loads(image_id))] = tuple(str(d) for d in json.loads(digests) or [])
        except (json.JSONDecodeError, TypeError):
            continue
    result: dict[str, ImageInfo] = {}
    for line in containers.splitlines():
        cid, _, rest = line.partition(" ")
        image_id, _, name = rest.partition(" ")
        try:
            cid, image_id = str(json.loads(cid)), str(json.loads(image_id))
            name = str(json.loads(name)) if name else ""
        except json.JSONDecodeError:
            continue
        result[cid] = ImageInfo(image_id, by_image.get(image_id, ()), name)
    return result


def _on(config: Config, host: str) -> list[str]:
    return [stack for stack, cfg in config.stacks.items() if host in cfg.hosts]


# A stack whose values are SOPS-encrypted (``sops.py``): the hosts' drift program runs
# Compose without them, so its hash would differ from the one `up` stamped (made with
# them) at every apply, and apply would recreate the stack each time. Its values are
# not sent to that program either: it keeps each project's resolved config in files.
SEALED = Project(
    error="its values are SOPS-encrypted and not sent to the drift check: "
    "`cf up STACK` applies a change to it"
)


def _inputs_and_sealed(
    config: Config, stacks: Iterable[str]
) -> tuple[dict[str, list[str]], set[str]]:
    """``_inputs`` of the stacks without SOPS-encrypted values, and the stacks with them."""
    from compose_farm.sops import has_secrets

    sealed = {stack for stack in stacks if has_secrets(config, stack)}
    return _inputs(config, [s for s in stacks if s not in sealed]), sealed


def _inputs(config: Config, stacks: Iterable[str]) -> dict[str, list[str]]:
    """Stack -> the files its project reads (drift's fingerprint); a stack not readable
    here, or with a tab or newline in a path, has none."""
    import os
    from pathlib import Path

    from compose_farm.compose.inputs import project_inputs

    found: dict[str, list[str]] = {}
    for stack in stacks:
        files = project_inputs(Path(str(config.compose_dir)), stack, os.environ)
        if files is not None and not any("\n" in f or "\t" in f for f in files):
            found[stack] = list(files)
    return found


async def gather_facts(
    config: Config,
    executor: ExecutorProtocol,
    hosts: Iterable[str] | None = None,
    *,
    images: bool = False,
    drift: bool = False,
) -> Facts:
    """Ask every host (or ``hosts``) at once what it runs (with ``images``, on what; with
    ``drift``, what Compose makes of each stack's folder now: ``drift.py``)."""
    names = list(hosts) if hosts is not None else list(config.hosts)
    inputs: dict[str, list[str]] = {}
    sealed: set[str] = set()
    if drift:
        wanted = {stack for host in names for stack in _on(config, host)}
        inputs, sealed = await asyncio.to_thread(_inputs_and_sealed, config, wanted)

    def table(stacks: Iterable[str]) -> str:
        return "\n".join(
            f"{stack}\t{config.stack_dir(stack)}\t{f}"
            for stack in stacks
            if stack not in sealed
            for f in inputs.get(stack) or [""]
        )

    def command(host: str) -> Runnable:
        if drift:
            return Script(DRIFT_PROGRAM, (PS_FORMAT, "cached", table(_on(config, host))))
        return Script(IMAGES_PROGRAM, (PS_FORMAT,)) if images else ps_command()

    results = await asyncio.gather(*(executor.run(h, command(h), capture=True) for h in names))
    per_host: dict[str, HostFacts] = {}
    for host, result in zip(names, results, strict=True):
        if result.error is not None:
            per_host[host] = HostFacts(host, error=result.error)
        elif result.exit_status != 0:
            reason = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
            per_host[host] = HostFacts(host, error=f"docker ps failed: {reason[0]}")
        elif drift:
            listing, _, rest = result.stdout.partition("--- drift\n")
            found = tuple(parse_ps(host, listing))
            details = parse_details(rest)
            if sealed:  # said, never guessed: see _inputs_and_sealed
                here = {s: SEALED for s in _on(config, host) if s in sealed}
                details = replace(details, projects={**details.projects, **here})
            per_host[host] = HostFacts(host, found, details=details)
        else:
            listing, _, rest = result.stdout.partition("--- containers\n")
            found = tuple(parse_ps(host, listing))
            per_host[host] = HostFacts(host, found, images=parse_images(rest) if rest else {})
    every = [c for f in per_host.values() for c in f.containers]
    facts = Facts(per_host, assign_stacks(config, every))
    if drift:
        await _fresh(executor, facts, table)
        facts = Facts(per_host, facts.stack_of)
    return facts


async def _fresh(
    executor: ExecutorProtocol, facts: Facts, table: Callable[[Iterable[str]], str]
) -> None:
    """Where kept hashes differ from the containers', ask Compose again (in place, in
    ``facts.hosts``): the plan's line then says what changed. Only when there is drift."""
    again: dict[str, list[str]] = {}
    for stack, host in sorted(facts.drift()):
        details = facts.hosts[host].details
        project = details.projects.get(stack) if details is not None else None
        if project is not None and not project.resolved:
            again.setdefault(host, []).append(stack)

    async def one(host: str, names: list[str]) -> None:
        script = Script(DRIFT_PROGRAM, (PS_FORMAT, "fresh", table(names)))
        result = await executor.run(host, script, capture=True)
        old = facts.hosts[host].details
        if not result.ok or old is None:
            return
        fresh = parse_details(result.stdout.partition("--- drift\n")[2])
        projects = {**old.projects, **{s: fresh.projects[s] for s in names if s in fresh.projects}}
        details = replace(fresh, projects=projects, tags=old.tags or fresh.tags)
        facts.hosts[host] = replace(facts.hosts[host], details=details)

    await asyncio.gather(*(one(h, names) for h, names in again.items()))
