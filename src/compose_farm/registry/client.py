"""The registry HTTP API: the digest a tag names now, without pulling anything.

One ``HEAD /v2/<repository>/manifests/<tag>`` per reference, asking for every
manifest type (OCI and Docker indexes first), so a multi-arch tag answers with
its index's digest: the one ``RepoDigests`` records after a pull by tag. When
the registry answers 401, its ``WWW-Authenticate`` challenge says how to log
in: ``Bearer`` (Docker Hub, GHCR, most private registries: a token from the
challenge's realm, with the host's credentials when Docker there has some) or
``Basic``. A registry that cannot be asked (down, refused, rate limited, an
answer without a digest) gives an error, never a digest: the caller reports
"unknown", never "up to date".

Credentials go only where they belong: to the registry itself, or to its
token realm over https. They never appear in an error.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import httpx

from compose_farm.registry.reference import Reference

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)
TIMEOUT = 15.0  # seconds for each request
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Access:
    """How to reach one registry: over TLS or not, with which credentials (if any)."""

    secure: bool = True
    username: str | None = None
    secret: str | None = None  # a password, or an identity token with username "<token>"

    @property
    def basic(self) -> tuple[str, str] | None:
        if self.username is None or self.secret is None:
            return None
        return (self.username, self.secret)


@dataclass(frozen=True)
class Latest:
    """What the registry says the tag names now: a digest, or why that is unknown."""

    digest: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="https://auth",service="reg",scope="..."`` -> its parts."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in ("bearer", "basic"):
        return None
    params = {m[1].lower(): m[2] if m[2] else m[3] for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def _scheme(access: Access) -> str:
    return "https" if access.secure else "http"


async def latest_digest(client: httpx.AsyncClient, ref: Reference, access: Access) -> Latest:
    """The digest ``ref``'s tag names in its registry now (see the module's docstring)."""
    if ref.tag is None:
        return Latest(error="pinned by digest")
    where = f"{ref.registry}/{ref.repository}:{ref.tag}"
    url = f"{_scheme(access)}://{ref.api_host}/v2/{ref.repository}/manifests/{ref.tag}"
    headers = {"Accept": ACCEPT}
    try:
        answer = await client.head(url, headers=headers, timeout=TIMEOUT)
        if answer.status_code == 401:
            authorization = await _authorize(client, ref, access, answer)
            if isinstance(authorization, Latest):
                return authorization
            headers["Authorization"] = authorization
            answer = await client.head(url, headers=headers, timeout=TIMEOUT)
        if answer.status_code == 200:
            digest = answer.headers.get("docker-content-digest", "")
            if not _DIGEST.fullmatch(digest):  # some registries only say it on GET
                body = await client.get(url, headers=headers, timeout=TIMEOUT)
                if body.status_code != 200:
                    return Latest(error=_status(where, body))
                digest = "sha256:" + hashlib.sha256(body.content).hexdigest()
            return Latest(digest)
        return Latest(error=_status(where, answer))
    except httpx.HTTPError as exc:
        return Latest(error=f"{ref.registry}: {_why(exc)}")


async def _authorize(
    client: httpx.AsyncClient, ref: Reference, access: Access, answer: httpx.Response
) -> str | Latest:
    """The ``Authorization`` header the 401 ``answer`` asks for, or why there is none."""
    challenge = parse_challenge(answer.headers.get("www-authenticate", ""))
    if challenge is None:
        return Latest(error=f"{ref.registry}: asks for a login cf does not speak")
    if challenge.scheme == "basic":
        if access.basic is None:
            return Latest(error=f"{ref.registry}: needs a login (`docker login` on the host)")
        if not access.secure:
            return Latest(error=f"{ref.registry}: will not send a password over plain http")
        return _basic(*access.basic)
    realm = challenge.params.get("realm", "")
    realm_url = httpx.URL(realm) if realm else None
    if realm_url is None or realm_url.scheme not in ("https", "http"):
        return Latest(error=f"{ref.registry}: its login challenge names no token realm")
    params = {"scope": f"repository:{ref.repository}:pull"}
    if "service" in challenge.params:
        params["service"] = challenge.params["service"]
    headers: dict[str, str] = {}
    if access.basic is not None:
        if realm_url.scheme != "https":
            return Latest(error=f"{ref.registry}: will not send a password to {realm_url.host}")
        headers["Authorization"] = _basic(*access.basic)
    got = await client.get(realm_url, params=params, headers=headers, timeout=TIMEOUT)
    if got.status_code != 200:
        return Latest(error=f"{ref.registry}: token request answered HTTP {got.status_code}")
    try:
        body = got.json()
        token = body.get("token") or body.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        return Latest(error=f"{ref.registry}: the token answer holds no token")
    return f"Bearer {token}"


def _basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def _status(where: str, answer: httpx.Response) -> str:
    code = answer.status_code
    if code == 429:
        return f"{where}: rate limited by the registry (HTTP 429)"
    if code == 404:
        return f"{where}: no such tag in the registry"
    if code in (401, 403):
        return f"{where}: access refused (HTTP {code}); `docker login` on the host"
    return f"{where}: the registry answered HTTP {code}"


def _why(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {TIMEOUT:.0f} s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (down, or not reachable from this machine)"
    return type(exc).__name__
