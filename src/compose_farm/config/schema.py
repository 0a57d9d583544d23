"""The file's shape: what ``compose-farm.yaml`` may say, shorthands included.

A shorthand (``nuc: 10.0.0.1``, ``plex: nuc``, ``before_up: "cmd"``) is widened
to its mapping form by a validator that runs first, and the one union left
(``hosts: nuc`` or ``hosts: [nuc, hp]``) is tagged, so Pydantic tries each value
against one model only: one error per mistake, not one per union member. A
value of none of the accepted forms fails with a message listing them. An
error's ``loc`` then names the widened form (``hosts.nuc.address``,
``stacks.plex.hosts.list.1``); ``problems.py`` maps it back onto the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag

from compose_farm.config.models import (
    GitOptions,
    HookCommand,
    HostConfig,
    SshOptions,
    Strict,
    SyncOptions,
    WebOptions,
)

HOST_FORMS = "expected an address, or a mapping with 'address' (and 'user', 'port')"
STACK_FORMS = (
    "expected a host name, 'all', a list of host names, "
    "or a mapping with 'hosts' (and 'sync', 'data', 'hooks')"
)
HOST_NAMES_FORMS = "expected a host name, 'all', or a list of host names"
HOOK_FORMS = "expected a command, a mapping with 'run' (and 'on'), or a list of these"


def _shorthand(key: str, short: type | tuple[type, ...], forms: str) -> Callable[[Any], Any]:
    """A validator reading a ``short`` value as ``{key: value}`` and a mapping as itself."""

    def widen(value: Any) -> Any:
        if isinstance(value, Mapping):
            return value
        if isinstance(value, short):
            return {key: value}
        raise ValueError(forms)

    return widen


def _one_or_list(value: Any) -> Any:
    if isinstance(value, str | list):
        return value
    raise ValueError(HOST_NAMES_FORMS)


def _host_names_tag(value: Any) -> str:
    return "one" if isinstance(value, str) else "list"


def _listed(value: Any) -> Any:
    if value is None:  # `before_up:` with nothing after it: no commands
        return []
    return value if isinstance(value, list) else [value]


HostEntry = Annotated[HostConfig, BeforeValidator(_shorthand("address", str, HOST_FORMS))]

# ``nuc`` keeps its form: a lone name and a list of one differ for 'all' and for
# where problems are reported.
HostNames = Annotated[
    Annotated[
        Annotated[str, Tag("one")] | Annotated[list[str], Tag("list")],
        Discriminator(_host_names_tag),
    ],
    BeforeValidator(_one_or_list),
]

HookList = Annotated[
    tuple[Annotated[HookCommand, BeforeValidator(_shorthand("run", str, HOOK_FORMS))], ...],
    BeforeValidator(_listed),
]

# Event -> commands. Event names are checked with the cross references, which
# can list the known ones.
RawHooks = dict[str, HookList]


class RawStack(Strict):
    """One stack in its mapping form."""

    hosts: HostNames
    sync: bool | None = None
    data: list[str] = Field(default_factory=list)
    hooks: RawHooks | None = None


StackEntry = Annotated[RawStack, BeforeValidator(_shorthand("hosts", (str, list), STACK_FORMS))]


class RawConfig(Strict):
    """The whole file, before ``all`` is expanded and paths are made absolute."""

    compose_dir: str = Field(min_length=1)
    hosts: dict[str, HostEntry]
    stacks: dict[str, StackEntry] = Field(default_factory=dict)
    traefik_file: str | None = None
    traefik_stack: str | None = None
    ssh: SshOptions = Field(default_factory=SshOptions)
    sync: SyncOptions = Field(default_factory=SyncOptions)
    hooks: RawHooks | None = None
    web: WebOptions = Field(default_factory=WebOptions)
    git: GitOptions | None = None
