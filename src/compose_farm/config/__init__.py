"""The config file: where it is, what it may say, and the farm it describes.

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

``search`` finds the file, ``load`` reads it: ``schema`` (Pydantic) checks its
shape, ``checks`` the cross references (unknown hosts, duplicates, names), and
``problems`` makes every mistake name its file, line and key. The rest of cf
sees only ``models``: the farm normalised.
"""

from compose_farm.config.checks import path_problem
from compose_farm.config.load import load_config, parse_config
from compose_farm.config.models import (
    ALL_HOSTS,
    DIGEST_LOG_FILENAME,
    HOOK_EVENTS,
    LOCAL_ADDRESSES,
    STATE_FILENAME,
    Config,
    ForwardAuthOptions,
    HookCommand,
    HookEvent,
    HostConfig,
    SshOptions,
    StackConfig,
    SyncOptions,
    WebOptions,
)
from compose_farm.config.search import CONFIG_FILENAME, config_candidates, find_config

__all__ = [
    "ALL_HOSTS",
    "CONFIG_FILENAME",
    "DIGEST_LOG_FILENAME",
    "HOOK_EVENTS",
    "LOCAL_ADDRESSES",
    "STATE_FILENAME",
    "Config",
    "ForwardAuthOptions",
    "HookCommand",
    "HookEvent",
    "HostConfig",
    "SshOptions",
    "StackConfig",
    "SyncOptions",
    "WebOptions",
    "config_candidates",
    "find_config",
    "load_config",
    "parse_config",
    "path_problem",
]
