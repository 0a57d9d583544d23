"""The farm as the rest of cf sees it: normalised, frozen Pydantic models.

Every stack maps to a tuple of host names, every host to a ``HostConfig``; the
shorthands the file allows (``plex: nuc``, ``nuc: 10.0.0.1``) are gone by the
time a ``Config`` exists (``schema.py`` reads them, ``load.py`` builds this).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

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


def _check_network(value: str) -> str:
    """An address or CIDR network, as cf compares the connecting address with it."""
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        try:
            wide = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24); "
                "names are not accepted: cf compares the address a request comes from"
            ) from None
        one = value.split("/", 1)[0]
        raise ValueError(
            f"{value!r} has host bits set: write {wide} for the network, or {one} for one address"
        ) from None
    if network.prefixlen == 0:
        raise ValueError(f"{value!r} trusts every address: anyone could name any user")
    return str(network)


def _some(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("list the proxy's address (at least one); leave forward_auth out for none")
    return value


# An HTTP header name (RFC 9110 token). Headers browsers, clients or proxies send for other
# purposes cannot carry the user: a browser would send them on every direct request.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_TAKEN = frozenset(
    {
        "host",
        "cookie",
        "authorization",
        "proxy-authorization",
        "origin",
        "referer",
        "user-agent",
        "connection",
        "upgrade",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "forwarded",
        "via",
        "x-real-ip",
        "x-csrf-token",
        "cache-control",
        "pragma",
        "range",
    }
)
_TAKEN_PREFIXES = ("accept", "content-", "sec-", "x-forwarded-", "if-", "access-control-")


def _check_header(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a header name: letters, digits and '-', at most 64 "
            "(e.g. Remote-User)"
        )
    lower = value.lower()
    if lower in _TAKEN or lower.startswith(_TAKEN_PREFIXES):
        raise ValueError(
            f"{value} is a header browsers or proxies send for another purpose: name the "
            "header your proxy sets for the logged-in user (e.g. Remote-User)"
        )
    return value


ProxyNetwork = Annotated[str, AfterValidator(_check_network)]
HeaderName = Annotated[str, AfterValidator(_check_header)]


class ForwardAuthOptions(Strict):
    """``cf web`` takes the user a reverse proxy logged in from ``user_header``, only on
    connections from ``trusted_proxies`` (docs/web-proxy.md)."""

    trusted_proxies: Annotated[tuple[ProxyNetwork, ...], AfterValidator(_some)]
    user_header: HeaderName = "Remote-User"


class WebOptions(Strict):
    """Settings of ``cf web`` that belong to the farm; read when it starts."""

    forward_auth: ForwardAuthOptions | None = None


_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,200}")
# An environment variable name, as a shell writes one.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _check_branch(value: str) -> str:
    bad = value.startswith(("-", "/")) or value.endswith(("/", ".lock", "."))
    if not _BRANCH.fullmatch(value) or bad or ".." in value or "//" in value:
        raise ValueError(
            f"{value!r} is not a branch name: letters, digits, '.', '_', '-' and '/' (e.g. main)"
        )
    return value


def _check_remote(value: str) -> str:
    if not value or value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError(
            "must be a git URL or remote name (no spaces, not starting with '-'), "
            "e.g. git@git.example.com:me/farm.git"
        )
    scheme, _, rest = value.partition("://")
    if rest and ":" in rest.split("/", 1)[0].rpartition("@")[0]:
        raise ValueError(
            f"{scheme}:// URL carries a password: the config holds no credentials; "
            "use an SSH key or git's credential helper (docs/git.md)"
        )
    return value


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (e.g. CF_GIT_SECRET)")
    return value


def _no_inline_secret(value: object) -> object:
    if isinstance(value, dict) and ("secret" in value or "token" in value):
        raise ValueError(
            "the webhook secret never goes in the config: name a file with secret_file "
            "or an environment variable with secret_env"
        )
    return value


def _check_poll(value: int) -> int:
    if 0 < value < MIN_POLL:
        raise ValueError(f"poll every {MIN_POLL} seconds or more, or 0 for no polling")
    return value


MIN_POLL = 15


class GitWebhook(Strict):
    """Where ``cf web`` reads the secret that signs ``POST /hooks/git`` (docs/git.md)."""

    secret_file: str | None = Field(default=None, min_length=1)
    secret_env: Annotated[str, AfterValidator(_check_env_name)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> GitWebhook:
        if (self.secret_file is None) == (self.secret_env is None):
            raise ValueError("name the secret's source: either secret_file or secret_env")
        return self


class GitOptions(Strict):
    """The farm's compose folder (and config) come from a git repository (docs/git.md).

    ``path``: the checkout (default: the repository holding ``compose_dir``); ``url``:
    where to fetch from (default: the checkout's ``origin``); ``poll``: seconds between
    fetches by ``cf web`` (0: none); ``auto_apply``: ``cf web`` applies a new commit
    without a click.
    """

    url: Annotated[str, AfterValidator(_check_remote)] | None = None
    branch: Annotated[str, AfterValidator(_check_branch)] = "main"
    path: str | None = Field(default=None, min_length=1)
    auto_apply: bool = False
    poll: Annotated[Count, AfterValidator(_check_poll)] = Field(default=0, ge=0, le=86400)
    webhook: Annotated[GitWebhook | None, BeforeValidator(_no_inline_secret)] = None


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
    web: WebOptions = Field(default_factory=WebOptions)
    git: GitOptions | None = None

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
