"""Registry pieces that need no registry: references, login challenges, a host's Docker
access, and the judgement of one service. The HTTP flows' corner cases (a realm over
plain http, 429, no digest header) run on an in-process endpoint (httpx's transport);
the real flows run on the lab: anonymous (tests/e2e/test_outdated.py) and a token-auth
registry over TLS (tests/e2e/test_outdated_login.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from compose_farm.operations.outdated import Status, _Running, judge
from compose_farm.operations.rollback import Ran, merged, replaced
from compose_farm.registry.access import HostAccess, parse_access
from compose_farm.registry.client import Access, latest_digest, parse_challenge
from compose_farm.registry.reference import BadReference, parse_reference

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "repo_name"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", "nginx"),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", "nginx"),
        ("docker.io/library/nginx:1", "docker.io", "library/nginx", "1", "nginx"),
        ("index.docker.io/me/app", "docker.io", "me/app", "latest", "me/app"),
        ("me/app:v2", "docker.io", "me/app", "v2", "me/app"),
        ("ghcr.io/org/app:1", "ghcr.io", "org/app", "1", "ghcr.io/org/app"),
        ("10.0.0.5:5000/a/b:2", "10.0.0.5:5000", "a/b", "2", "10.0.0.5:5000/a/b"),
        ("localhost/app", "localhost", "app", "latest", "localhost/app"),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", None, "nginx"),
    ],
)
def test_references_as_docker_reads_them(
    text: str, registry: str, repository: str, tag: str | None, repo_name: str
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.repo_name) == (
        registry,
        repository,
        tag,
        repo_name,
    )


@pytest.mark.parametrize("text", ["Nginx", "app:bad tag", "a@sha256:xyz", "a//b", ""])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(BadReference):
        parse_reference(text)


def test_challenges() -> None:
    bearer = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull"'
    )
    assert bearer is not None and bearer.scheme == "bearer"
    assert bearer.params["realm"] == "https://auth.docker.io/token"
    assert bearer.params["service"] == "registry.docker.io"
    basic = parse_challenge('Basic realm="Registry"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("Negotiate abc") is None


def _config(doc: dict[str, Any], registries: dict[str, Any]) -> str:
    encoded = base64.b64encode(json.dumps(doc).encode()).decode()
    return f"--- config\n{encoded}\n--- registries\n{json.dumps(registries)}\n"


def test_a_hosts_docker_access() -> None:
    auth = base64.b64encode(b"me:pa:ss").decode()
    doc = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": auth},
            "ghcr.io": {"identitytoken": "tok"},
        },
        "credHelpers": {"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login", "bad": "x;rm -rf /"},
    }
    registries = {
        "IndexConfigs": {"10.0.0.5:5000": {"Secure": False}, "docker.io": {"Secure": True}},
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
    }
    found = parse_access(_config(doc, registries))
    assert found.access("docker.io") == Access(True, "me", "pa:ss")
    assert found.access("ghcr.io") == Access(True, "<token>", "tok")
    assert found.access("10.0.0.5:5000") == Access(False, None, None)
    assert found.access("127.0.0.1:5000").secure is False  # an insecure CIDR
    assert found.helper_for("123.dkr.ecr.eu-west-1.amazonaws.com") == "ecr-login"
    assert found.helper_for("bad") is None  # never a name that is not a plain word
    helped = found.access("123.dkr.ecr.eu-west-1.amazonaws.com", {"Username": "AWS", "Secret": "s"})
    assert helped == Access(True, "AWS", "s")


def test_an_unreadable_config_is_no_access() -> None:
    assert parse_access("--- config\n%%%\n--- registries\nnot json\n") == HostAccess()


# --- the HTTP flows ---------------------------------------------------------------------


def _ask(handler: Any, ref: str, access: Access) -> Any:
    async def go() -> Any:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport) as client:
            return await latest_digest(client, parse_reference(ref), access)

    return asyncio.run(go())


def test_the_bearer_flow_sends_the_hosts_login_to_the_realm_only() -> None:
    seen: list[httpx.Request] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth.example":
            assert request.url.params["scope"] == "repository:org/app:pull"
            assert request.url.params["service"] == "reg"
            assert (
                request.headers["authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()
            )
            return httpx.Response(200, json={"token": "T"})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200, headers={"docker-content-digest": DIGEST})
        assert "authorization" not in request.headers  # first try: anonymous
        challenge = 'Bearer realm="https://auth.example/token",service="reg"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    found = _ask(registry, "reg.example/org/app:1", Access(True, "me", "pw"))
    assert found.digest == DIGEST and found.error is None
    assert seen[0].method == "HEAD" and "index.v1+json" in seen[0].headers["accept"]


def test_no_password_goes_to_a_plain_http_realm() -> None:
    def registry(request: httpx.Request) -> httpx.Response:
        assert request.url.host != "evil.example", "the password went to the realm"
        challenge = 'Bearer realm="http://evil.example/token"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    found = _ask(registry, "reg.example/app:1", Access(True, "me", "pw"))
    assert found.digest is None and "will not send a password" in (found.error or "")
    assert "pw" not in (found.error or "")


def test_rate_limits_and_missing_tags_are_unknown() -> None:
    limited = _ask(lambda r: httpx.Response(429), "reg.example/app:1", Access())
    assert limited.digest is None and "rate limited" in (limited.error or "")
    missing = _ask(lambda r: httpx.Response(404), "reg.example/app:1", Access())
    assert missing.digest is None and "no such tag" in (missing.error or "")


def test_a_registry_without_the_digest_header_is_hashed_from_the_manifest() -> None:
    body = b'{"schemaVersion":2}'

    def registry(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"" if request.method == "HEAD" else body)

    found = _ask(registry, "reg.example/app:1", Access())
    assert found.digest == "sha256:" + hashlib.sha256(body).hexdigest()


# --- judging one service -----------------------------------------------------------------


def _item(image: str, *digests: str) -> _Running:
    return _Running("web", "h1", "app", image, digests)


def test_judging_a_service() -> None:
    ref = parse_reference("me/app:1")
    now = "2026-12-02T00:00:00+00:00"
    current = judge(_item("me/app:1", f"me/app@{DIGEST}"), ref, _latest(DIGEST), now)
    assert current.status is Status.CURRENT and current.checked == now
    newer = judge(_item("me/app:1", f"me/app@{DIGEST}"), ref, _latest(OTHER), now)
    assert (newer.status, newer.running, newer.latest) == (Status.UPDATE, DIGEST, OTHER)
    down = judge(_item("me/app:1", f"me/app@{DIGEST}"), ref, _latest(None, "down"), now)
    assert down.status is Status.UNKNOWN and down.reason == "down"
    built = judge(_item("me/app:1"), ref, _latest(DIGEST), now)
    assert built.status is Status.UNKNOWN and "no registry digest" in built.reason
    other_repo = judge(_item("me/app:1", f"you/app@{DIGEST}"), ref, _latest(DIGEST), now)
    assert other_repo.status is Status.UNKNOWN
    pinned = parse_reference(f"me/app@{DIGEST}")
    assert judge(_item(f"me/app@{DIGEST}"), pinned, None, now).status is Status.PINNED


def _latest(digest: str | None, error: str | None = None) -> Any:
    from compose_farm.registry.client import Latest

    return Latest(digest, error)


def test_rollback_records_only_services_whose_image_changed() -> None:
    old = {
        ("web", "h1", "app"): Ran("web", "h1", "app", "me/app:1", "sha256:old", "me/app@x"),
        ("web", "h1", "side"): Ran("web", "h1", "side", "busybox", "sha256:same", ""),
    }
    new = {
        ("web", "h1", "app"): Ran("web", "h1", "app", "me/app:1", "sha256:new", "me/app@y"),
        ("web", "h1", "side"): Ran("web", "h1", "side", "busybox", "sha256:same", ""),
    }
    [row] = replaced(old, new, "t")
    assert (row["service"], row["image_id"], row["replaced_by"]) == (
        "app",
        "sha256:old",
        "sha256:new",
    )
    kept = {"stack": "db", "host": "h2", "service": "pg", "image_id": "sha256:pg"}
    older = {"stack": "web", "host": "h1", "service": "app", "image_id": "sha256:older"}
    assert merged([kept, older], [row]) == [kept, row]
