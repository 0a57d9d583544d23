"""The farm as the rest of cf sees it: normalised, frozen Pydantic models.

Every stack maps to a tuple of host names, every host to a ``HostConfig``; the
shorthands the file allows (``plex: nuc``, ``nuc: 10.0.0.1``) are gone by the
time a ``Config`` exists (``schema.py`` reads them, ``load.py`` builds this).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

STATE_FILENAME = "compose-farm-state.yaml"
DIGEST_LOG_FILENAME = "dockerfarm-log.toml"
ALL_HOSTS = "all"

LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1", "local"})

HookEvent = Literal[
    "before_up", "after_up", "before_down", "after_down", "before_migrate", "after_migrate"
]
# The events in the order a reader meets them; the one list of their names.
HOOK_EVENTS: tuple[HookEvent, ...] = get_args(HookEvent)


class Strict(BaseModel):
    """Unknown keys are errors and values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_address(value: str) -> str:
    if not value or any(c.isspace() for c in value) or value.startswith("-"):
        raise ValueError("must be a hostname or IP address (no spaces, not starting with '-')")
    return value


Address = Annotated[str, AfterValidator(_check_address)]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # Pydantic would take YAML's `true` for the number 1
        raise ValueError(f"must be a whole number, not {str(value).lower()}")
    return value


Count = Annotated[int, BeforeValidator(_not_a_boolean)]


class HostConfig(Strict):
    """How to reach one host. ``user`` and ``port`` fall back to ``~/.ssh/config``."""

    address: Address
    user: str | None = Field(default=None, min_length=1)
    port: Count | None = Field(default=None, ge=1, le=65535)
    identity_file: str | None = Field(default=None, min_length=1)
    local: bool = False

    @property
    def is_local(self) -> bool:
        """True when commands for this host run on this machine without SSH."""
        return self.local or self.address in LOCAL_ADDRESSES


class SshOptions(Strict):
    """Farm-wide SSH settings."""

    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    max_channels_per_host: Count = Field(default=8, ge=1, le=64)
    max_concurrent_handshakes: Count = Field(default=10, ge=1, le=100)
    known_hosts: str | None = None


class SyncOptions(Strict):
    """Farm-wide defaults for copying stack folders to hosts (docs/sync-and-data.md)."""

    enabled: bool = False
    delete: bool = False
    exclude: tuple[str, ...] = ()
    host_to_host: bool = True  # data moves: the new host pulls from the old one when it can


class HookCommand(Strict):
    """One hook command: a shell line run on the stack's host or on this machine."""

    run: str = Field(min_length=1)
    on: Literal["host", "local"] = "host"


class StackConfig(Strict):
    """Where one stack runs. ``all_hosts`` remembers that the config said ``all``.

    ``sync``: copy the stack folder to its hosts before starting it there.
    ``data``: absolute paths of the bind-mounted folders that move with the stack.
    ``hooks``: event -> commands, farm-wide hooks first.
    """

    name: str
    hosts: tuple[str, ...]
    all_hosts: bool = False
    sync: bool = False
    data: tuple[PurePosixPath, ...] = ()
    hooks: dict[str, tuple[HookCommand, ...]] = Field(default_factory=dict)

    @property
    def multi_host(self) -> bool:
        """True when the stack is meant to run on more than one host at once."""
        return self.all_hosts or len(self.hosts) > 1


class Config(Strict):
    """The whole farm, normalised: every stack maps to a tuple of host names."""

    path: Path
    compose_dir: PurePosixPath
    hosts: dict[str, HostConfig]
    stacks: dict[str, StackConfig]
    traefik_file: Path | None = None
    traefik_stack: str | None = None
    ssh: SshOptions = Field(default_factory=SshOptions)
    sync: SyncOptions = Field(default_factory=SyncOptions)

    @property
    def state_path(self) -> Path:
        """The state file lives beside the config file (symlinks resolved)."""
        return self.path.resolve().parent / STATE_FILENAME

    @property
    def farm_lock_path(self) -> Path:
        """Held by commands that change the whole farm (apply, refresh)."""
        return self.path.resolve().parent / "compose-farm.lock"

    @property
    def digest_log_path(self) -> Path:
        """Where image digests are recorded."""
        return self.path.resolve().parent / DIGEST_LOG_FILENAME

    def stack_dir(self, stack: str) -> PurePosixPath:
        """The stack's folder, the same path on every host."""
        return self.compose_dir / stack

    def stacks_on(self, host: str) -> list[str]:
        """Stacks configured to run on ``host`` (including ``all`` and lists)."""
        return [name for name, s in self.stacks.items() if host in s.hosts]
