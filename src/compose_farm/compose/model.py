"""What Compose Farm knows about a stack's compose file, as frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compose_farm.compose.masking import mask
from compose_farm.compose.mounts import Mount
from compose_farm.compose.ports import PublishedPort


@dataclass(frozen=True)
class ServiceInfo:
    """One active service of a compose project, as ``docker compose config`` shows it.

    ``bind_mounts`` are the host sources of ``mounts`` of type bind, in order.
    """

    name: str
    image: str | None = None
    container_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[PublishedPort] = field(default_factory=list)
    bind_mounts: list[Path] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    profiles: tuple[str, ...] = ()
    network_mode: str | None = None


@dataclass(frozen=True)
class ComposeProject:
    """A stack's compose project as ``docker compose`` run in its folder reads it: every
    file (``COMPOSE_FILE`` or the compose file and its override) merged, ``include`` and
    ``extends`` applied, services of inactive profiles left out.

    ``external_networks`` are the external networks the active services join.
    ``warnings`` name what Compose would warn about and what cf does not read
    (file, line, key). ``env_values`` are the stack's ``.env`` variables and
    ``document`` the merged, interpolated model: both may hold secrets, so they
    are left out of ``repr`` and anything shown to a person should go through ``mask``.
    """

    stack: str
    path: Path
    project_name: str
    services: dict[str, ServiceInfo] = field(default_factory=dict)
    external_networks: dict[str, str] = field(default_factory=dict)
    env_values: dict[str, str] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict, repr=False)
    files: tuple[Path, ...] = ()
    profiles: frozenset[str] = frozenset()

    @property
    def secret_values(self) -> frozenset[str]:
        """The values of the stack's ``.env``: never to be shown."""
        return frozenset(v for v in self.env_values.values() if v)

    def mask(self, text: str) -> str:
        """``text`` with every ``.env`` value (4+ characters) replaced by ``***``."""
        return mask(text, self.secret_values)
