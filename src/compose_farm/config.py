"""The config file: Pydantic models, the search order, and loading with file:line errors.

``compose-farm.yaml`` says where the compose folders are, which hosts exist and
which stack runs on which host(s)::

    compose_dir: /opt/compose
    hosts:
      nuc: 192.168.1.10
      hp: {address: 192.168.1.11, user: admin, port: 2222}
    stacks:
      plex: nuc
      dozzle: all
      web: [nuc, hp]

Pydantic checks the shape; cross references (unknown hosts, duplicates, names)
are checked afterwards so every problem can name its key and line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from compose_farm.errors import ConfigError, Problem
from compose_farm.names import RESERVED_HOST_NAMES, name_problem
from compose_farm.yamlio import line_of, odd_keys, read_yaml_file, to_plain

CONFIG_FILENAME = "compose-farm.yaml"
STATE_FILENAME = "compose-farm-state.yaml"
DIGEST_LOG_FILENAME = "dockerfarm-log.toml"
ALL_HOSTS = "all"

LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1", "local"})


class _Strict(BaseModel):
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


class HostConfig(_Strict):
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


class SshOptions(_Strict):
    """Farm-wide SSH settings."""

    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    max_channels_per_host: Count = Field(default=8, ge=1, le=64)
    max_concurrent_handshakes: Count = Field(default=10, ge=1, le=100)
    known_hosts: str | None = None


class SyncOptions(_Strict):
    """Farm-wide defaults for copying stack folders to hosts (docs/sync-and-data.md)."""

    enabled: bool = False
    delete: bool = False
    exclude: tuple[str, ...] = ()
    host_to_host: bool = True  # data moves: the new host pulls from the old one when it can


HOOK_EVENTS = (
    "before_up",
    "after_up",
    "before_down",
    "after_down",
    "before_migrate",
    "after_migrate",
)
HookEvent = Literal[
    "before_up", "after_up", "before_down", "after_down", "before_migrate", "after_migrate"
]


class HookCommand(_Strict):
    """One hook command: a shell line run on the stack's host or on this machine."""

    run: str = Field(min_length=1)
    on: Literal["host", "local"] = "host"


_HookValue = str | HookCommand | list[str | HookCommand]


class _RawHooks(_Strict):
    before_up: _HookValue | None = None
    after_up: _HookValue | None = None
    before_down: _HookValue | None = None
    after_down: _HookValue | None = None
    before_migrate: _HookValue | None = None
    after_migrate: _HookValue | None = None

    def normalised(self) -> dict[str, tuple[HookCommand, ...]]:
        """Every event's commands as a tuple of ``HookCommand`` (strings run on the host)."""
        out: dict[str, tuple[HookCommand, ...]] = {}
        for event in HOOK_EVENTS:
            value = getattr(self, event)
            if value is None:
                continue
            items = value if isinstance(value, list) else [value]
            out[event] = tuple(HookCommand(run=i) if isinstance(i, str) else i for i in items)
        return out


class _RawStack(_Strict):
    hosts: str | list[str]
    sync: bool | None = None
    data: list[str] = Field(default_factory=list)
    hooks: _RawHooks | None = None


class StackConfig(_Strict):
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


# The spec calls stacks "services"; keep its name available.
ServiceConfig = StackConfig


class _RawConfig(_Strict):
    """The file's shape, before host expansion."""

    compose_dir: str = Field(min_length=1)
    hosts: dict[str, Address | HostConfig]
    stacks: dict[str, str | list[str] | _RawStack] = Field(default_factory=dict)
    traefik_file: str | None = None
    traefik_stack: str | None = None
    ssh: SshOptions = Field(default_factory=SshOptions)
    sync: SyncOptions = Field(default_factory=SyncOptions)
    hooks: _RawHooks | None = None


class Config(_Strict):
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


# ---------------------------------------------------------------- search order


def config_candidates(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    """Where to look for the config, in order: ``-c``, ``$CF_CONFIG``, ``./``, XDG."""
    if explicit:
        return [Path(explicit).expanduser()]
    if environ.get("CF_CONFIG"):
        return [Path(environ["CF_CONFIG"]).expanduser()]
    xdg = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return [Path.cwd() / CONFIG_FILENAME, Path(xdg).expanduser() / "compose-farm" / CONFIG_FILENAME]


def find_config(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """The first existing config path, or a ``ConfigError`` saying where we looked."""
    candidates = config_candidates(explicit, environ)
    for path in candidates:
        if path.exists() or path.is_symlink() or explicit or environ.get("CF_CONFIG"):
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise ConfigError(
        f"no config file found (looked in {tried})",
        hint="create one with `cf config init`, or pass `-c FILE` / set CF_CONFIG",
    )


# ---------------------------------------------------------------- loading


def load_config(path: Path) -> Config:
    """Read, validate and normalise the config at ``path``."""
    raw = read_yaml_file(path, what="config file")
    if raw is None:
        raise ConfigError(
            "the config file is empty", path=path, hint="run `cf config init` for a starting point"
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "the config must be a mapping of keys (compose_dir, hosts, stacks)", path=path
        )
    return parse_config(raw, path)


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    """Validate already-parsed YAML (ruamel nodes keep line numbers for messages)."""
    odd = [
        Problem(
            f'key {found.text} is read as {found.kind}, not as text: quote it: "{found.text}"',
            path,
            found.line,
            found.where,
        )
        for found in odd_keys(raw)
    ]
    if odd:
        raise ConfigError(problems=odd)
    data = dict(to_plain(raw))
    key_alias = "stacks"
    if "services" in data:
        if "stacks" in data:
            raise ConfigError(
                "use either 'stacks' or 'services', not both",
                path=path,
                line=line_of(raw, ["services"]),
                key="services",
            )
        data["stacks"] = data.pop("services")
        key_alias = "services"
    for key in ("stacks", "hosts"):  # `hosts:` with nothing under it is reported as empty below
        if key in data and data[key] is None:
            data[key] = {}

    try:
        parsed = _RawConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems=_pydantic_problems(exc, raw, path, key_alias)) from None

    problems = _check_references(parsed, raw, path, key_alias)
    if problems:
        raise ConfigError(problems=problems)
    return _normalise(parsed, path)


def _pydantic_problems(exc: ValidationError, raw: Any, path: Path, key_alias: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        loc = [key_alias if part == "stacks" else part for part in err["loc"]]
        # Pydantic reports every member of a union; keep the most specific one per key.
        loc = [p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS)]
        key = ".".join(str(p) for p in loc)
        message = _friendly(err)
        if (key, message) in seen:
            continue
        seen.add((key, message))
        problems.append(Problem(message, path, line_of(raw, loc), key or None))
    return _dedupe_union(problems)


_UNION_TAGS = frozenset(
    {
        "str",
        "HostConfig",
        "list[str]",
        "function-after[_check_address(), str]",
        "_RawStack",
        "HookCommand",
        "list[union[str,HookCommand]]",
    }
)


def _friendly(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_too_short" and err.get("ctx", {}).get("min_length") == 1:
        return "must not be empty"
    if kind in {"string_type", "list_type", "model_type", "dict_type"}:
        expected = {
            "string_type": "a string",
            "list_type": "a list",
            "model_type": "a mapping",
            "dict_type": "a mapping",
        }[kind]
        return f"expected {expected}, got {type(err['input']).__name__}"
    return str(err["msg"]).removeprefix("Value error, ")


def _dedupe_union(problems: list[Problem]) -> list[Problem]:
    """A union (str | mapping) fails once per member; keep the most specific message.

    A type mismatch on a key is dropped when a deeper or more specific problem
    names the same key, and what is left says every form the key accepts.
    """
    kept: list[Problem] = []
    for problem in problems:
        if problem.message.startswith("expected ") and any(
            other is not problem
            and other.key is not None
            and problem.key is not None
            and (other.key.startswith(problem.key + ".") or other.key == problem.key)
            and not other.message.startswith("expected ")
            for other in problems
        ):
            continue
        if any(k.key == problem.key and k.message.startswith("expected ") for k in kept):
            continue
        key = problem.key or ""
        if problem.message.startswith("expected ") and key:
            head = key.split(".")[0]
            if head in ("stacks", "services") and key.count(".") == 1:
                problem = Problem(
                    "expected a host name, 'all', a list of host names, "
                    "or a mapping with 'hosts' (and 'sync', 'data', 'hooks')",
                    problem.path,
                    problem.line,
                    problem.key,
                )
            elif head == "hosts" and key.count(".") == 1:
                problem = Problem(
                    "expected an address, or a mapping with 'address' (and 'user', 'port')",
                    problem.path,
                    problem.line,
                    problem.key,
                )
        kept.append(problem)
    return kept


def _check_references(cfg: _RawConfig, raw: Any, path: Path, key_alias: str) -> list[Problem]:
    problems: list[Problem] = []

    def add(message: str, *loc: str | int, hint_key: str | None = None) -> None:
        key = hint_key or ".".join(str(p) for p in loc)
        problems.append(Problem(message, path, line_of(raw, list(loc)), key))

    if not PurePosixPath(cfg.compose_dir).is_absolute():
        add("must be an absolute path (the same path on every host)", "compose_dir")
    elif (why := path_problem(cfg.compose_dir)) is not None:
        add(why, "compose_dir")
    if not cfg.hosts:
        add("is empty: add at least one host", "hosts")
    for host in cfg.hosts:
        if host in RESERVED_HOST_NAMES:
            add(
                f"'{host}' is reserved (it means every host); pick another host name", "hosts", host
            )
        elif (why := name_problem(host)) is not None:
            add(f"host name {why}", "hosts", host)

    for stack, value in cfg.stacks.items():
        loc: tuple[str | int, ...] = (key_alias, stack)
        if (why := name_problem(stack)) is not None:
            add(f"stack name {why}", *loc)
            continue
        target = value
        if isinstance(value, _RawStack):
            target = value.hosts
            problems.extend(_check_data(value, raw, path, loc))
            loc = (*loc, "hosts")
        assert not isinstance(target, _RawStack)
        names = [target] if isinstance(target, str) else target
        if isinstance(target, list) and not target:
            add("the host list is empty; name at least one host or use 'all'", *loc)
        seen: set[str] = set()
        for i, host in enumerate(names):
            item_loc = (*loc, i) if isinstance(target, list) else loc
            if host == ALL_HOSTS:
                if isinstance(target, list):
                    add("'all' cannot be mixed with host names in a list", *item_loc)
                continue
            if host in seen:
                add(f"host '{host}' is listed twice", *item_loc)
            seen.add(host)
            if host not in cfg.hosts:
                known = ", ".join(sorted(cfg.hosts)) or "none"
                add(f"unknown host '{host}' (known hosts: {known})", *item_loc)

    if cfg.traefik_stack is not None and cfg.traefik_stack not in cfg.stacks:
        add(f"'{cfg.traefik_stack}' is not a stack in this config", "traefik_stack")
    return problems


def path_problem(path: str) -> str | None:
    """Why a folder path cannot be handed to hosts' programs safely, or ``None``.

    Paths reach shells only quoted, which copes with any byte but NUL; but a
    control character (a newline above all) would split the line-based
    listings and reports that come back, and is never meant.
    """
    bad = sorted({c for c in path if ord(c) < 32 or ord(c) == 127})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"must not contain control characters (found {shown})"
    return None


def _check_data(
    stack: _RawStack, raw: Any, path: Path, loc: tuple[str | int, ...]
) -> list[Problem]:
    """A stack's ``data`` folders: single-host stacks only, inside or outside the folder,
    never the folder itself or a way out of it with ``..``."""
    problems: list[Problem] = []
    if stack.data and (
        stack.hosts == ALL_HOSTS or (isinstance(stack.hosts, list) and len(stack.hosts) > 1)
    ):
        where = [*loc, "data"]
        problems.append(
            Problem(
                "data moves with a stack that runs on one host; this stack runs on several",
                path,
                line_of(raw, where),
                ".".join(str(p) for p in where),
            )
        )
    for i, folder in enumerate(stack.data):
        where = [*loc, "data", i]
        pure = PurePosixPath(folder)
        why = None
        if not folder.strip():
            why = "must be a folder path"
        elif ".." in pure.parts:
            why = "must not contain '..'"
        elif not pure.is_absolute() and pure == PurePosixPath("."):
            why = "must be a folder inside the stack folder, not the stack folder itself"
        elif pure.is_absolute() and pure == PurePosixPath("/"):
            why = "must not be /"
        elif (problem := path_problem(folder)) is not None:
            why = problem
        if why is not None:
            problems.append(
                Problem(
                    f"data folder {folder!r} {why}",
                    path,
                    line_of(raw, where),
                    ".".join(str(p) for p in where),
                )
            )
    return problems


def _normalise(cfg: _RawConfig, path: Path) -> Config:
    hosts = {
        name: HostConfig(address=h) if isinstance(h, str) else h for name, h in cfg.hosts.items()
    }
    compose_dir = PurePosixPath(cfg.compose_dir)
    farm_hooks = cfg.hooks.normalised() if cfg.hooks else {}
    stacks: dict[str, StackConfig] = {}
    for name, value in cfg.stacks.items():
        extra = value if isinstance(value, _RawStack) else _RawStack(hosts=value)
        own_hooks = extra.hooks.normalised() if extra.hooks else {}
        hooks = {
            event: farm_hooks.get(event, ()) + own_hooks.get(event, ())
            for event in HOOK_EVENTS
            if event in farm_hooks or event in own_hooks
        }
        folder = compose_dir / name
        common: dict[str, Any] = {
            "sync": cfg.sync.enabled if extra.sync is None else extra.sync,
            "data": tuple(
                folder / d if not d.startswith("/") else PurePosixPath(d) for d in extra.data
            ),
            "hooks": hooks,
        }
        target = extra.hosts
        if target == ALL_HOSTS:
            stacks[name] = StackConfig(name=name, hosts=tuple(hosts), all_hosts=True, **common)
        else:
            listed = (target,) if isinstance(target, str) else tuple(target)
            stacks[name] = StackConfig(name=name, hosts=listed, **common)
    traefik_file = None
    if cfg.traefik_file:
        traefik_file = Path(cfg.traefik_file).expanduser()
        if not traefik_file.is_absolute():
            traefik_file = path.resolve().parent / traefik_file
    return Config(
        path=path,
        compose_dir=compose_dir,
        hosts=hosts,
        stacks=stacks,
        traefik_file=traefik_file,
        traefik_stack=cfg.traefik_stack,
        ssh=cfg.ssh,
        sync=cfg.sync,
    )


def default_environ() -> Mapping[str, str]:
    """The process environment; the only place this module reads it."""
    return os.environ
