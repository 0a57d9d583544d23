"""Preflight: everything a stack needs on a host, checked in one round trip.

The check is a fixed shell program (in this file) that receives the stack
folder and the paths and network names to look for as positional arguments,
so no user value is ever part of the program text. It prints one line per
missing thing; no output means the host is ready.

Only what Compose itself would fail on blocks a start: long-syntax bind sources,
devices, and the external networks that an active service joins. A missing
short-syntax bind source (``./data:/data``) is created by Compose as an empty
folder owned by root, so it never blocks; ``cf check`` reports it as a note
(``Missing`` of kind ``created``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from compose_farm.compose import COMPOSE_FILE_NAMES, load_compose
from compose_farm.config import Config
from compose_farm.errors import ComposeFileError
from compose_farm.executor import Script

# Arguments: check items (s:DIR starts a stack, m:/c:/d:/n: follow), then
# optionally "--" and a command to run in the last stack's folder when nothing
# is missing. Missing things are printed as "missing KIND VALUE" lines and the
# command is then not run (exit 97), so a start costs one round trip.
PROGRAM = r"""
missing=; dir=
while [ $# -gt 0 ]; do
  item=$1; shift
  [ "$item" = "--" ] && break
  kind=${item%%:*}; value=${item#*:}
  case $value in "~") value=$HOME ;; "~/"*) value=$HOME/${value#"~/"} ;; esac
  case $kind in
    s) printf 'stack %s\n' "$value"; dir=$value
       found=
       for f in compose.yaml compose.yml docker-compose.yml docker-compose.yaml; do
         if [ -f "$value/$f" ]; then found=1; break; fi
       done
       [ -n "$found" ] || { printf 'missing compose %s\n' "$value"; missing=1; } ;;
    m) [ -e "$value" ] || { printf 'missing mount %s\n' "$value"; missing=1; } ;;
    c) [ -e "$value" ] || printf 'missing created %s\n' "$value" ;;
    d) [ -e "$value" ] || { printf 'missing device %s\n' "$value"; missing=1; } ;;
    n) docker network inspect "$value" >/dev/null 2>&1 ||
         { printf 'missing network %s\n' "$value"; missing=1; } ;;
  esac
done
[ $# -gt 0 ] || exit 0
[ -z "$missing" ] || exit 97
cd "$dir" && exec "$@"
"""
MISSING_EXIT = 97


@dataclass(frozen=True)
class Requirements:
    """What a stack needs on a host besides its compose file."""

    mounts: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    # short-syntax bind sources: Compose creates a missing one, so they never block
    created: tuple[str, ...] = ()
    # what Compose would refuse (file:line: key: reason): nothing starts then
    error: str | None = None
    # what cf read differently or left out, said once (file:line: key: what)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Missing:
    """One thing a host lacks: ``kind`` is compose, mount, device, network or created
    (a bind source Compose will create as an empty folder: a note, not a problem)."""

    kind: str
    value: str

    def __str__(self) -> str:
        labels = {
            "compose": "compose file in",
            "mount": "bind-mount source",
            "device": "device",
            "network": "external network",
        }
        if self.kind == "created":
            return f"bind-mount source {self.value} (Compose will create it as an empty folder)"
        return f"{labels.get(self.kind, self.kind)} {self.value}"


def requirements(config: Config, stack: str, environ: Mapping[str, str]) -> Requirements:
    """Read the stack's compose file on this machine, when it can be read here.

    The compose folder is usually shared (same path everywhere); when it is not
    visible locally, only the compose file's presence is checked on the host.
    """
    folder = Path(str(config.stack_dir(stack)))
    if not any((folder / name).is_file() for name in COMPOSE_FILE_NAMES):
        return Requirements()
    # `~` means the home of the SSH user on the host, not ours: keep it for the
    # host's shell to expand.
    remote = {**environ, "HOME": "~"}
    try:
        project = load_compose(Path(str(config.compose_dir)), stack, remote)
    except ComposeFileError as exc:
        # Compose would refuse it on the host: say so before anything runs there.
        return Requirements(error=exc.message)
    mounts: dict[str, None] = {}
    created: dict[str, None] = {}
    devices: dict[str, None] = {}
    # A stack's declared data folders arrive with a move (or Docker creates them on a
    # first start): their absence is not a problem.
    data = {str(folder) for folder in config.stacks[stack].data}
    for service in project.services.values():
        for mount in service.mounts:
            if mount.type != "bind" or not mount.source or mount.source in data:
                continue
            (created if mount.create_host_path else mounts)[mount.source] = None
        for device in service.devices:
            if device.startswith("/"):  # not CDI names (nvidia.com/gpu=all)
                devices[device] = None
    return Requirements(
        mounts=tuple(mounts),
        devices=tuple(devices),
        networks=tuple(dict.fromkeys(project.external_networks.values())),
        created=tuple(m for m in created if m not in mounts),
        warnings=tuple(project.warnings),
    )


def preflight_script(
    stack_dir: PurePosixPath, needs: Requirements, then: Sequence[str] = ()
) -> Script:
    """The one-round-trip check for ``needs`` in ``stack_dir`` (then ``then``, if all is there).

    Sources Compose creates are left out: a start never waits on them."""
    return check_script([(stack_dir, replace(needs, created=()))], then)


def check_script(
    stacks: Sequence[tuple[PurePosixPath, Requirements]], then: Sequence[str] = ()
) -> Script:
    """One program that checks several stacks on one host (``cf check``); with ``then``,
    it runs that command in the (last) stack's folder when nothing is missing."""
    args: list[str] = []
    for stack_dir, needs in stacks:
        args.append(f"s:{stack_dir}")
        args += [f"m:{m}" for m in needs.mounts]
        args += [f"c:{c}" for c in needs.created]
        args += [f"d:{d}" for d in needs.devices]
        args += [f"n:{n}" for n in needs.networks]
    if then:
        args += ["--", *then]
    return Script(PROGRAM, tuple(args))


def parse_report(output: str) -> dict[str, list[Missing]]:
    """Stack folder -> what is missing there, from the check's output."""
    report: dict[str, list[Missing]] = {}
    current: list[Missing] | None = None
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "stack":
            current = report.setdefault(rest, [])
        elif word == "missing" and current is not None:
            kind, _, value = rest.partition(" ")
            current.append(Missing(kind, value))
    return report


def parse_missing(output: str) -> list[Missing]:
    """Everything missing that blocks a start, whichever stack it belongs to."""
    return [m for found in parse_report(output).values() for m in found if m.kind != "created"]


def explain(stack: str, host: str, missing: list[Missing]) -> str:
    """A message listing what is missing and what to do."""
    lines = [f"{stack} cannot start on {host}: missing " + "; ".join(str(m) for m in missing)]
    for network in (m.value for m in missing if m.kind == "network"):
        lines.append(f"create networks with: cf init-network {host} --network {network}")
    if any(m.kind == "mount" for m in missing):
        lines.append("create the folders on the host (or fix the paths in the compose file)")
    return ". ".join(lines)
