"""Image references as Docker reads them: which registry, which repository, which tag.

``nginx`` is ``docker.io/library/nginx:latest``; ``me/app`` is Docker Hub's
``me/app``; a first part with a dot or a port, or ``localhost``, names a registry
(``10.0.0.5:5000/app:1``). A reference pinned by digest cannot have an update.
Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HUB = "docker.io"
HUB_API = "registry-1.docker.io"  # where Docker Hub's registry API answers
HUB_AUTH_KEY = "https://index.docker.io/v1/"  # Docker Hub's key in config.json's "auths"

_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_PART}(?:/{_PART})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class BadReference(ValueError):
    """Not an image reference Docker would accept."""


@dataclass(frozen=True)
class Reference:
    """One image reference, split."""

    registry: str  # "docker.io" for Docker Hub
    repository: str  # "library/nginx"
    tag: str | None  # None when pinned by digest only
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """Where the registry's HTTP API answers."""
        return HUB_API if self.registry == HUB else self.registry

    @property
    def repo_name(self) -> str:
        """The repository as ``docker images`` and ``RepoDigests`` name it: ``nginx``,
        ``me/app``, ``host:5000/app``."""
        if self.registry == HUB:
            return self.repository.removeprefix("library/")
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """``nginx:1.27``, ``me/app:1``, ``host:5000/app@sha256:...``."""
        if self.digest is not None:
            return f"{self.repo_name}@{self.digest}"
        return f"{self.repo_name}:{self.tag}"


def parse_reference(text: str) -> Reference:
    """Split ``text``; raises ``BadReference`` for what Docker would refuse."""
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise BadReference(f"{text}: not a sha256 digest after @")
    tag: str | None = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise BadReference(f"{text}: {tag!r} is not a tag")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = HUB, rest
    if registry == "index.docker.io":
        registry = HUB
    if registry == HUB and "/" not in path:
        path = f"library/{path}"
    if not _NAME.fullmatch(path):
        raise BadReference(f"{text}: {path!r} is not a repository name")
    if tag is None and not digest:
        tag = "latest"
    return Reference(registry, path, tag, digest or None)
