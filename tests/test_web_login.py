"""Attacks on the login, run concurrently against the real app: guessing must not be raceable,
and no address may lock out another (the scheme is in ``web/auth.py``'s docstring).

Requests go through ``httpx.ASGITransport``, one transport per client address, and are
sent at once with ``asyncio.gather``; time is an injected clock moved by hand, never a
sleep. The start-up link and forged ``X-Forwarded-For`` headers are tested against
``cf web`` itself, started as a user starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from compose_farm.web.app import create_app
from compose_farm.web.auth import (
    MAX_FAILURES_PER_MINUTE,
    MAX_FAILURES_PER_MINUTE_IN_ALL,
    TOKEN_TTL,
    WINDOW,
    Auth,
    client_key,
    clock_time,
)
from tests.support.web import PASSWORD, TEST_HOSTS, TOKEN, WebServer, write_config

LIMIT = MAX_FAILURES_PER_MINUTE
CAP = MAX_FAILURES_PER_MINUTE_IN_ALL
ATTACKER = "198.51.100.7"
OWNER = "192.0.2.10"
COMPOSE = "services:\n  app:\n    image: busybox\n"
# The real argon2id, cheap parameters: a test may check a hundred guesses.
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
SLOW = 120.0  # seconds: ten checks of cf web's real argon2, two at a time, on a busy machine
GONE = "Restart <code>cf web</code> for a new link"


class Clock:
    """Seconds since the epoch, moved on by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def login_app(folder: Path, clock: Clock, *, password: bool = True) -> FastAPI:
    """The real app over a temp config, with ``PASSWORD`` (or none) and the start-up ``TOKEN``."""
    auth = Auth(password_hash=CHEAP_HASH if password else None, token=TOKEN, clock=clock)
    return create_app(write_config(folder, {"app": COMPOSE}), auth, allowed_hosts=TEST_HOSTS)


Browser = Callable[[str], httpx.AsyncClient]


def attack(app: FastAPI, scenario: Callable[[Browser], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario`` in one event loop; it gets a browser at any address it names."""

    def browser(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    asyncio.run(scenario(browser))


async def at_once(client: httpx.AsyncClient, requests: list[tuple[str, str]]) -> list[int]:
    """``(method, target)`` requests sent concurrently (a POST sends ``password=`` + the
    target's text); their statuses in order."""

    async def one(method: str, target: str) -> httpx.Response:
        if method == "POST":
            return await client.post("/login", data={"password": target})
        return await client.get(target)

    answers = await asyncio.gather(*(one(method, target) for method, target in requests))
    return [answer.status_code for answer in answers]


def guesses(n: int) -> list[tuple[str, str]]:
    return [("POST", f"wrong password {i}") for i in range(n)]


def password(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    return client.post("/login", data={"password": PASSWORD})


# --- guessing the password ----------------------------------------------------------------


def test_a_hundred_concurrent_guesses_get_at_most_the_limit_checked(
    tmp_path: Path, clock: Clock
) -> None:
    app = login_app(tmp_path, clock)

    async def scenario(browser: Browser) -> None:
        async with browser(ATTACKER) as attacker:
            statuses = await at_once(attacker, guesses(100))
            assert Counter(statuses) == {401: LIMIT, 429: 100 - LIMIT}, Counter(statuses)

            right = await password(attacker)
            assert right.status_code == 429
            assert "set-cookie" not in right.headers
            wait = int(right.headers["retry-after"])
            assert 0 < wait <= WINDOW
            clock.now += wait - 1
            assert (await password(attacker)).status_code == 429
            clock.now += 1
            assert (await password(attacker)).status_code == 303

    attack(app, scenario)


def test_a_login_clears_its_addresss_failures(tmp_path: Path, clock: Clock) -> None:
    app = login_app(tmp_path, clock)

    async def scenario(browser: Browser) -> None:
        async with browser(OWNER) as owner:
            assert set(await at_once(owner, guesses(LIMIT - 1))) == {401}
            assert (await password(owner)).status_code == 303
            statuses = await at_once(owner, guesses(LIMIT + 5))
            assert Counter(statuses) == {401: LIMIT, 429: 5}

    attack(app, scenario)


def test_many_addresses_failing_once_cannot_lock_out_a_fresh_one(
    tmp_path: Path, clock: Clock
) -> None:
    app = login_app(tmp_path, clock)
    crowd = [f"203.0.113.{n}" for n in range(1, CAP + 11)]

    async def scenario(browser: Browser) -> None:
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(browser(a)) for a in crowd]
            first = await asyncio.gather(*(at_once(c, guesses(1)) for c in clients))
            assert first == [[401]] * len(crowd)  # one guess each

            again = await at_once(clients[0], guesses(1))
            assert again == [429]  # past the farm-wide cap: no second guess per address

            async with browser(OWNER) as owner:
                assert (await password(owner)).status_code == 303

            clock.now += WINDOW
            assert await at_once(clients[0], guesses(1)) == [401]  # forgotten after a minute

    attack(app, scenario)


def test_an_address_that_failed_waits_while_the_farm_is_crowded(
    tmp_path: Path, clock: Clock
) -> None:
    """The price of the scheme: the owner's own typo, during an attack, costs a minute."""
    app = login_app(tmp_path, clock)

    async def scenario(browser: Browser) -> None:
        async with browser(OWNER) as owner:
            assert await at_once(owner, guesses(1)) == [401]
            clock.now += 30
            for n in range(CAP):
                async with browser(f"203.0.113.{n + 1}") as one:
                    assert await at_once(one, guesses(1)) == [401]
            refused = await password(owner)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "30"
            clock.now += 30
            assert (await password(owner)).status_code == 303

    attack(app, scenario)


# --- guessing the start-up link ----------------------------------------------------------


def test_link_guesses_are_throttled_and_do_not_lock_out_the_owner(
    tmp_path: Path, clock: Clock
) -> None:
    app = login_app(tmp_path, clock)

    async def scenario(browser: Browser) -> None:
        async with browser(ATTACKER) as attacker:
            targets = [("GET", f"/login?token={TOKEN}x{n}") for n in range(100)]
            statuses = await at_once(attacker, targets)
            assert Counter(statuses) == {401: LIMIT, 429: 100 - LIMIT}, Counter(statuses)
            # Refused before it is compared: the right link, guessed now, is not used up.
            assert (await attacker.get(f"/login?token={TOKEN}")).status_code == 429
        async with browser(OWNER) as owner:
            assert (await owner.get(f"/login?token={TOKEN}")).status_code == 303
        async with browser("192.0.2.11") as laptop:
            assert (await password(laptop)).status_code == 303

    attack(app, scenario)


# --- the start-up link -------------------------------------------------------------------


def test_the_link_works_once(tmp_path: Path, clock: Clock) -> None:
    app = login_app(tmp_path, clock, password=False)

    async def scenario(browser: Browser) -> None:
        async with browser(OWNER) as owner:
            page = await owner.get("/login")
            assert f"it works until {clock_time(clock.now + TOKEN_TTL)}" in page.text
            assert (await owner.get(f"/login?token={TOKEN}")).status_code == 303
        async with browser(OWNER) as again:
            refused = await again.get(f"/login?token={TOKEN}")
            assert refused.status_code == 401
            assert "set-cookie" not in refused.headers
            assert GONE in refused.text and "cf web --set-password" in refused.text
            assert GONE in (await again.get("/login")).text

    attack(app, scenario)


@pytest.mark.parametrize(("later", "status"), [(TOKEN_TTL - 1, 303), (TOKEN_TTL, 401)])
def test_the_link_expires(tmp_path: Path, clock: Clock, later: float, status: int) -> None:
    app = login_app(tmp_path, clock, password=False)
    clock.now += later

    async def scenario(browser: Browser) -> None:
        async with browser(OWNER) as owner:
            answer = await owner.get(f"/login?token={TOKEN}")
            assert answer.status_code == status
            assert (GONE in answer.text) is (status == 401)

    attack(app, scenario)


def test_the_link_is_void_once_someone_logged_in_with_the_password(
    tmp_path: Path, clock: Clock
) -> None:
    app = login_app(tmp_path, clock)

    async def scenario(browser: Browser) -> None:
        async with browser(OWNER) as owner:
            assert (await password(owner)).status_code == 303
        async with browser("192.0.2.11") as other:
            assert (await other.get(f"/login?token={TOKEN}")).status_code == 401

    attack(app, scenario)


def test_a_link_that_is_not_ascii_is_refused_not_an_error(tmp_path: Path, clock: Clock) -> None:
    app = login_app(tmp_path, clock)

    async def scenario(browser: Browser) -> None:
        async with browser(ATTACKER) as attacker:
            assert (await attacker.get("/login?token=%C3%A9t%C3%A9")).status_code == 401

    attack(app, scenario)


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:192.0.2.1", "192.0.2.1", True),  # IPv4-mapped
        ("192.0.2.1", "192.0.2.2", False),
        ("testclient", "testclient", True),  # not an address: as is
    ],
)
def test_addresses_are_counted_per_host_or_ipv6_64(one: str, other: str, same: bool) -> None:
    assert (client_key(one) == client_key(other)) is same


# --- `cf web` as a user starts it ----------------------------------------------------------


def server_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment, with no stored password and uvicorn's defaults."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("CF_WEB_PASSWORD", "FORWARDED_ALLOW_IPS")
    }
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config-home")}


def test_cf_web_with_a_password_prints_no_link(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    with WebServer(config, server_env(tmp_path), tmp_path / "cf-web.log") as server:
        printed = server.output()
        page = httpx.get(f"{server.url}/login", trust_env=False)
    assert f"open: {server.url}/login" in printed, printed
    assert "token" not in printed, printed
    assert 'type="password"' in page.text and "one-time" not in page.text


def test_cf_web_without_a_password_prints_a_link_that_works_once(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    started = time.time()
    with WebServer(config, server_env(tmp_path), tmp_path / "cf-web.log", password="") as server:
        printed = server.output()
        link = re.search(
            rf"one-time login link, valid until (\d\d:\d\d): ({server.url}\S+)", printed
        )
        assert link, printed
        assert "cf web --set-password" in printed
        valid_until = {clock_time(started + TOKEN_TTL), clock_time(time.time() + TOKEN_TTL)}
        assert link.group(1) in valid_until, (link.group(1), valid_until)
        with httpx.Client(trust_env=False) as browser:
            assert browser.get(link.group(2), follow_redirects=False).status_code == 303
            console = browser.get(f"{server.url}/console", headers={"accept": "text/html"})
            assert console.status_code == 200
        used = httpx.get(link.group(2), trust_env=False)
    assert used.status_code == 401
    assert GONE in used.text


def test_forged_forwarded_for_headers_do_not_make_new_addresses(tmp_path: Path) -> None:
    """uvicorn's defaults, as ``cf web`` runs it: ``X-Forwarded-For`` counts only from a peer
    at 127.0.0.1 or ::1 (a local proxy), and then only its last entry that is neither."""
    config = write_config(tmp_path, {"app": COMPOSE})
    with WebServer(config, server_env(tmp_path), tmp_path / "cf-web.log") as server:

        async def scenario() -> tuple[list[int], int, int, int]:
            # 127.0.0.2 is not a trusted proxy: its headers are ignored.
            direct = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(
                transport=direct, base_url=server.url, trust_env=False, timeout=SLOW
            ) as forger:
                forged = await asyncio.gather(
                    *(
                        forger.post(
                            "/login",
                            data={"password": f"wrong {n}"},
                            headers={"X-Forwarded-For": f"10.9.{n}.1"},
                        )
                        for n in range(3 * LIMIT)
                    )
                )
            async with httpx.AsyncClient(
                base_url=server.url, trust_env=False, timeout=SLOW
            ) as proxy:
                # A local proxy appends the peer it saw; what the client put in front is not used.
                in_front = await proxy.post(
                    "/login",
                    data={"password": PASSWORD},
                    headers={"X-Forwarded-For": "10.9.9.9, 127.0.0.2"},
                )
                owner = await proxy.post(
                    "/login", data={"password": PASSWORD}, headers={"X-Forwarded-For": OWNER}
                )
                direct_owner = await proxy.post("/login", data={"password": PASSWORD})
            return (
                [answer.status_code for answer in forged],
                in_front.status_code,
                owner.status_code,
                direct_owner.status_code,
            )

        forged, in_front, owner, direct_owner = asyncio.run(scenario())

    assert Counter(forged) == {401: LIMIT, 429: 2 * LIMIT}, Counter(forged)
    assert in_front == 429  # counted as 127.0.0.2
    assert owner == direct_owner == 303
