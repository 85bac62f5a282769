"""Issue 12, item 2: a password spray must not take the server down.

Before: scrypt (~40 ms) ran on the event loop and failures were not remembered, so fifty wrong
passwords at once stalled /health for 1.6-2.0 s, and an unknown username answered in 1.5 ms
against 40 ms for a known one. Now checks run on a bounded pool of threads, an unknown username
costs one check against a dummy hash, and failures are counted per client address and per
username: past a threshold the next attempt is a 429 with Retry-After, refused without a check.

Each test is the attack, in process on both backends (the credentials are in the database), with
the client address set per request through the ASGI scope (httpx's ASGITransport `client`) and
the password check replaced by a counting (and, where ordering is the point, gated) wrapper of
the real one. The last test goes over real HTTP to `openband serve` from several loopback
addresses. No timing assertions: ordering and counts.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from lxml import etree
from starlette.requests import Request

from openband.api.auth import client_address
from openband.config import Settings
from openband.core import accounts
from openband.core.accounts import BY_SOURCE, BY_USERNAME, DUMMY_HASH, hash_secret
from openband.core.failure_limiter import FailureLimiter, Rule
from tests.support.backends import create_pg_schema, drop_pg_schema, postgres_base_url
from tests.support.harness import Account, Harness
from tests.support.live import LiveServer, missing_tool

_PG = postgres_base_url()
BACKENDS = ["sqlite"] + (["postgres"] if _PG else [])

PER_SOURCE = 5
PER_USERNAME = 3
BACKOFF = 30
THREADS = 2
QUEUE = 64

V2 = "/api/v2"
LIST = {"messageDirection": "OUTBOUND"}  # a message listing needs one filter


# --- the server under attack -------------------------------------------------------------------


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        dev_account=False,
        worker_poll_seconds=0.05,
        inventory_lines_per_exchange=1000,
        auth_failures_per_source=PER_SOURCE,
        auth_failures_per_username=PER_USERNAME,
        auth_backoff_seconds=BACKOFF,
        auth_verify_threads=THREADS,
        auth_verify_queue=QUEUE,
    )


class Clock:
    """The limiter's clock: the real one plus whatever a test skips forward."""

    def __init__(self) -> None:
        import time

        self._real = time.monotonic
        self.offset = 0.0

    def __call__(self) -> float:
        return self._real() + self.offset


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """A server of this module's own: its low thresholds must not meet the rest of the suite."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('spray') / 'openband.db'}"
    else:
        assert _PG is not None
        url, schema = create_pg_schema(_PG)
    try:
        with Harness(_settings(url), request.param) as h:
            yield h
    finally:
        if schema is not None:
            assert _PG is not None
            drop_pg_schema(_PG, schema)


@dataclass
class Checks:
    """Counts (and, when `gated`, holds) every password check the server runs."""

    gated: bool = False
    loop_thread: int = 0  # the server's event loop runs here
    calls: int = 0
    stored: list[str] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Attack:
    harness: Harness
    checks: Checks
    clock: Clock

    @property
    def limiter(self) -> FailureLimiter:
        limiter = self.harness.app.state.platform.accounts.limiter
        assert limiter is not None
        return limiter

    def account(self) -> Account:
        return self.harness.new_account()

    def run(self, scenario: Callable[[], Awaitable[Any]]) -> Any:
        """Run `scenario()` on the server's own event loop."""
        return self.harness.client.portal.call(scenario)  # type: ignore[union-attr]

    @asynccontextmanager
    async def client_from(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client whose requests the server sees coming from `address`."""
        transport = httpx.ASGITransport(app=self.harness.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
def attack(server: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Attack]:
    checks = Checks()
    real = accounts.verify_secret

    def counted(secret: str, stored: str) -> bool:
        with checks.lock:
            checks.calls += 1
            checks.stored.append(stored)
            checks.threads.add(threading.get_ident())
        if checks.gated and threading.get_ident() == checks.loop_thread:
            raise AssertionError("a password check ran on the event loop's thread")
        if checks.gated and not checks.release.wait(30):
            raise AssertionError("the gated check was never released")
        return real(secret, stored)

    monkeypatch.setattr(accounts, "verify_secret", counted)
    clock = Clock()
    a = Attack(server, checks, clock)

    async def fresh() -> None:
        a.limiter.clear()
        a.limiter.clock = clock
        checks.loop_thread = threading.get_ident()

    a.run(fresh)
    yield a
    checks.release.set()  # never leave a pool thread waiting


def _dash(acct: Account) -> str:
    return f"/api/accounts/{acct.account_id}"


def _v2(acct: Account) -> str:
    return f"{V2}/users/{acct.account_id}/messages"


def _address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{1 + secrets.randbelow(250)}"


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # a deadline, not a measurement: ~10 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1


# --- the attacks -------------------------------------------------------------------------------


def test_health_answers_while_50_wrong_passwords_are_checked(attack: Attack) -> None:
    acct = attack.account()
    attack.checks.gated = True

    async def scenario() -> list[int]:
        async with attack.client_from(_address()) as c:
            loop_thread = threading.get_ident()
            wrong = [
                asyncio.create_task(c.get(_dash(acct), auth=(acct.username, f"wrong-{i}")))
                for i in range(50)
            ]
            # The pool's threads are inside a check, and stay there until released...
            await _until(lambda: attack.checks.calls == THREADS, "the pool's threads busy")
            health = await c.get("/health")
            # ...and /health has answered while all fifty were still in flight.
            assert health.status_code == 200
            assert not any(t.done() for t in wrong)
            assert attack.checks.calls == THREADS  # the others wait in the queue, not the loop
            assert loop_thread not in attack.checks.threads
            attack.checks.release.set()
            return [r.status_code for r in await asyncio.gather(*wrong)]

    assert attack.run(scenario) == [401] * 50
    assert attack.checks.calls == 50


def test_a_full_pool_refuses_with_429_instead_of_queueing(attack: Attack) -> None:
    attack.checks.gated = True

    async def scenario() -> None:
        async with attack.client_from(_address()) as c:
            # Unknown usernames: each is a check of its own against the dummy hash.
            waiting = [
                asyncio.create_task(c.get(f"{V2}/users/1/messages", auth=(f"nobody-{i}", "x")))
                for i in range(THREADS + QUEUE)
            ]
            pool = attack.harness.app.state.platform.accounts.credentials.pool
            await _until(lambda: pool.in_flight == THREADS + QUEUE, "the pool full")
            assert attack.checks.calls == THREADS
            # Answered at once, while the pool is still held: a deadline, not a measurement.
            over = await asyncio.wait_for(
                c.get(f"{V2}/users/1/messages", auth=("nobody-else", "x")), 10
            )
            _refused(over)
            assert over.headers["retry-after"] == "1"
            assert not any(t.done() for t in waiting)
            attack.checks.release.set()
            assert {r.status_code for r in await asyncio.gather(*waiting)} == {401}

    attack.run(scenario)
    assert attack.checks.calls == THREADS + QUEUE  # the refused one ran no check


def test_an_unknown_username_costs_one_check_like_a_known_one(attack: Attack) -> None:
    acct = attack.account()

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with attack.client_from(_address()) as c:
            # Messaging v2 tries both kinds of credential (username and v1 token)
            known = await c.get(_v2(acct), auth=(acct.username, "wrong"))
            after_known = attack.checks.calls
            unknown = await c.get(_v2(acct), auth=(f"nobody-{secrets.token_hex(4)}", "wrong"))
            assert attack.checks.calls - after_known == 1
            return known, unknown

    known, unknown = attack.run(scenario)
    assert attack.checks.calls == 2
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 401
    # The dummy is checked with the parameters of a real hash: the same cost.
    real = hash_secret("x")
    assert attack.checks.stored[1] == DUMMY_HASH
    assert DUMMY_HASH.split("$")[:4] == real.split("$")[:4]
    assert len(DUMMY_HASH.split("$")[5]) == len(real.split("$")[5])


def test_a_source_is_refused_after_its_failures_without_a_check(attack: Attack) -> None:
    acct = attack.account()
    attacker, other = _address(), _address()

    async def scenario() -> None:
        async with attack.client_from(attacker) as c:
            for i in range(PER_SOURCE):  # a different (unknown) username each time
                r = await c.get(_dash(acct), auth=(f"guess-{i}", "wrong"))
                assert r.status_code == 401
            checks = attack.checks.calls
            # Even the right password: the source is blocked, nothing is checked.
            r = await c.get(_dash(acct), auth=acct.auth)
            _refused(r)
            assert r.headers["retry-after"] == str(BACKOFF)
            assert attack.checks.calls == checks
        async with attack.client_from(other) as c:  # another address is not affected
            assert (await c.get(_dash(acct), auth=acct.auth)).status_code == 200

    attack.run(scenario)


def test_a_username_sprayed_from_many_sources_is_refused_then_recovers(attack: Attack) -> None:
    acct = attack.account()

    async def scenario() -> None:
        for i in range(PER_USERNAME):  # every guess from an address of its own
            async with attack.client_from(_address()) as c:
                r = await c.get(_dash(acct), auth=(acct.username, f"guess-{i}"))
                assert r.status_code == 401
        checks = attack.checks.calls
        async with attack.client_from(_address()) as c:
            _refused(await c.get(_dash(acct), auth=(acct.username, "one-more")))
            # The owner too, from a fresh address, until the backoff is over: no check runs.
            r = await c.get(_dash(acct), auth=acct.auth)
            _refused(r)
            assert attack.checks.calls == checks
            assert 1 <= int(r.headers["retry-after"]) <= BACKOFF
            attack.clock.offset += BACKOFF + 1
            assert (await c.get(_dash(acct), auth=acct.auth)).status_code == 200
        # A success clears the username's count: a typo now and then never adds up to a block.
        for round_ in range(3):
            async with attack.client_from(_address()) as c:
                for i in range(PER_USERNAME - 1):
                    r = await c.get(_dash(acct), auth=(acct.username, f"typo-{round_}-{i}"))
                    assert r.status_code == 401
                assert (await c.get(_dash(acct), auth=acct.auth)).status_code == 200

    attack.run(scenario)


def test_the_backoff_grows_with_each_block(attack: Attack) -> None:
    acct = attack.account()

    async def block() -> str:
        for i in range(PER_USERNAME):
            async with attack.client_from(_address()) as c:
                assert (await c.get(_dash(acct), auth=(acct.username, f"g{i}"))).status_code == 401
        async with attack.client_from(_address()) as c:
            r = await c.get(_dash(acct), auth=(acct.username, "g"))
            _refused(r)
            return r.headers["retry-after"]

    async def scenario() -> list[str]:
        waits = [await block()]
        attack.clock.offset += BACKOFF + 1
        waits.append(await block())
        attack.clock.offset += 2 * BACKOFF + 1
        waits.append(await block())
        return waits

    assert attack.run(scenario) == [str(BACKOFF), str(2 * BACKOFF), str(4 * BACKOFF)]


def test_a_recently_verified_header_needs_no_check(
    attack: Attack, monkeypatch: pytest.MonkeyPatch
) -> None:
    acct = attack.account()
    full_way = {"n": 0}
    real = accounts.CredentialCache.authenticate

    async def counted(self, *args, **kw):  # type: ignore[no-untyped-def]
        full_way["n"] += 1
        return await real(self, *args, **kw)

    monkeypatch.setattr(accounts.CredentialCache, "authenticate", counted)

    async def scenario() -> None:
        async with attack.client_from(_address()) as c:
            r = await c.get(_v2(acct), params=LIST, auth=acct.auth)
            assert r.status_code == 200, r.text  # verified once
            assert (attack.checks.calls, full_way["n"]) == (1, 1)
            # The hot path (POST …/messages): the header is known, nothing is verified or read.
            r = await c.post(_v2(acct), json={}, auth=acct.auth)
            assert r.status_code == 400, r.text  # past authentication: the body is refused
            assert (attack.checks.calls, full_way["n"]) == (1, 1)
            # The verified pairs answer a new route without a check (no pool, no thread).
            assert (await c.get(_dash(acct), auth=acct.auth)).status_code == 200
            assert (attack.checks.calls, full_way["n"]) == (1, 2)

    attack.run(scenario)


def test_a_blocked_username_loses_its_verified_headers(attack: Attack) -> None:
    """Otherwise a blocked attacker could go on testing guesses against what the owner's
    client had verified: a right guess would answer 202, a wrong one 429."""
    acct = attack.account()

    async def scenario() -> None:
        async with attack.client_from(_address()) as owner:
            r = await owner.get(_v2(acct), params=LIST, auth=acct.auth)
            assert r.status_code == 200, r.text
            for i in range(PER_USERNAME):
                async with attack.client_from(_address()) as c:
                    r = await c.get(_v2(acct), auth=(acct.username, f"guess-{i}"))
                    assert r.status_code == 401
            checks = attack.checks.calls
            _refused(await owner.post(_v2(acct), json={}, auth=acct.auth))  # the hot path
            _refused(await owner.get(_dash(acct), auth=acct.auth))
            assert attack.checks.calls == checks

    attack.run(scenario)


def test_guesses_refused_for_their_source_still_count_against_the_username(
    attack: Attack,
) -> None:
    acct, attacker = attack.account(), _address()

    async def scenario() -> None:
        async with attack.client_from(_address()) as owner:
            assert (await owner.get(_dash(acct), auth=acct.auth)).status_code == 200
        async with attack.client_from(attacker) as c:
            for i in range(PER_SOURCE):
                assert (await c.get(_dash(acct), auth=(f"x{i}", "y"))).status_code == 401
            # Blocked: each guess at the owner's password is refused, and counted.
            for i in range(PER_USERNAME):
                _refused(await c.get(_dash(acct), auth=(acct.username, f"guess-{i}")))
            # The right one is refused too, although the owner's was verified moments ago.
            _refused(await c.get(_dash(acct), auth=acct.auth))
        assert attack.limiter.blocked_for((BY_USERNAME, acct.username)) > 0

    attack.run(scenario)


def test_each_family_refuses_in_its_own_shape_with_retry_after(attack: Attack) -> None:
    acct, attacker = attack.account(), _address()
    tn = "+19195550123"

    async def scenario() -> dict[str, httpx.Response]:
        async with attack.client_from(attacker) as c:

            def wrong(n: int) -> tuple[str, str]:  # a username of its own each time
                return (f"{acct.username}-not-{n}", "wrong")

            first = {
                "dashboard": await c.get(_dash(acct), auth=wrong(1)),
                "v2": await c.get(_v2(acct), auth=wrong(2)),
                "v2-create": await c.post(_v2(acct), json={}, auth=wrong(3)),
                "sim": await c.get(f"/sim/v1/handsets/{tn}", auth=wrong(4)),
            }
            for r in first.values():  # a wrong password is a 401 with its challenge
                assert r.status_code == 401
                assert r.headers["www-authenticate"] == 'Basic realm="OpenBand"'
                assert "retry-after" not in r.headers
            for n in range(PER_SOURCE - len(first)):
                assert (await c.get(_dash(acct), auth=wrong(10 + n))).status_code == 401
            return {
                "dashboard": await c.get(_dash(acct), auth=acct.auth),
                "v2": await c.get(_v2(acct), auth=acct.auth),
                "v2-create": await c.post(_v2(acct), json={}, auth=acct.auth),
                "sim": await c.get(f"/sim/v1/handsets/{tn}", auth=acct.auth),
            }

    got = attack.run(scenario)
    for r in got.values():
        _refused(r)
        assert "www-authenticate" not in r.headers
    doc = etree.fromstring(got["dashboard"].content)
    assert got["dashboard"].headers["content-type"].startswith("application/xml")
    assert doc.tag == "AccountResponse"
    assert doc.findtext("ResponseStatus/Description") == "Too many failed sign-ins; try again later"
    for name in ("v2", "v2-create", "sim"):
        assert got[name].json() == {
            "type": "too-many-requests",
            "description": "Too many failed sign-ins; try again later",
        }, name


def test_a_spray_of_random_usernames_keeps_the_limiter_bounded() -> None:
    clock = Clock()
    limiter = FailureLimiter(
        {BY_SOURCE: Rule(100, 600), BY_USERNAME: Rule(20, 600)},
        backoff=30,
        backoff_max=900,
        max_entries=1000,
        clock=clock,
    )
    for i in range(20_000):
        limiter.fail((BY_USERNAME, f"user-{i}"))
    assert len(limiter) == 1000
    # Keys quiet for a window are forgotten as new ones arrive.
    clock.offset += 601
    limiter.fail((BY_USERNAME, "late"))
    assert len(limiter) == 1


@pytest.mark.parametrize(
    ("hops", "peer", "forwarded", "expected"),
    [
        (0, "10.0.0.9", ["1.2.3.4"], "10.0.0.9"),  # not trusted unless a setting says so
        (1, "10.0.0.9", ["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # the proxy appended the client
        (2, "10.0.0.9", ["6.6.6.6, 1.2.3.4", "10.0.0.8"], "1.2.3.4"),
        (2, "10.0.0.9", ["1.2.3.4"], "10.0.0.9"),  # fewer entries than proxies: the peer
    ],
)
def test_the_client_address_trusts_forwarded_for_only_when_told(
    hops: int, peer: str, forwarded: list[str], expected: str
) -> None:
    platform = SimpleNamespace(settings=Settings(auth_trusted_proxies=hops))
    scope = {
        "type": "http",
        "headers": [(b"x-forwarded-for", v.encode()) for v in forwarded],
        "client": (peer, 5000),
        "app": SimpleNamespace(state=SimpleNamespace(platform=platform)),
    }
    assert client_address(Request(scope)) == expected


# --- over real HTTP ----------------------------------------------------------------------------


class SprayServer(LiveServer):
    """`openband serve` with this module's thresholds."""

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.update(
            OPENBAND_AUTH_FAILURES_PER_SOURCE=str(PER_SOURCE),
            OPENBAND_AUTH_FAILURES_PER_USERNAME=str(PER_USERNAME),
        )
        return env


@pytest.fixture(params=BACKENDS)
def live_spray(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SprayServer]:
    schema = None
    if request.param == "postgres":
        assert _PG is not None
        url, schema = create_pg_schema(_PG)
        srv = SprayServer(tmp_path, database_url=url)
    else:
        srv = SprayServer(tmp_path)
    try:
        try:
            srv.start()
        except RuntimeError as exc:
            missing_tool(f"openband serve did not start: {exc}")
        yield srv
    finally:
        srv.stop()
        if schema is not None:
            assert _PG is not None
            drop_pg_schema(_PG, schema)


def _from(address: str, srv: SprayServer) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=srv.base_url, transport=transport, timeout=30.0)


def test_over_http_the_tcp_peer_is_the_source_and_forwarded_for_is_ignored(
    live_spray: SprayServer,
) -> None:
    """127.0.0.0/8 all reach loopback on Linux: each address is a client of its own. The
    attacker is on 127.0.0.1, the address whose X-Forwarded-For uvicorn trusts by default."""
    srv, path = live_spray, f"/api/accounts/{live_spray.account_id}"
    with _from("127.0.0.1", srv) as attacker, _from("127.0.0.3", srv) as neighbour:
        for i in range(PER_SOURCE):
            # A new username and a new forged X-Forwarded-For each time: neither helps.
            r = attacker.get(
                path, auth=(f"guess-{i}", "x"), headers={"X-Forwarded-For": f"192.0.2.{i}"}
            )
            assert r.status_code == 401
        r = attacker.get(path, auth=srv.auth, headers={"X-Forwarded-For": "192.0.2.200"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert neighbour.get(path, auth=srv.auth).status_code == 200
        # A username sprayed from several addresses is refused everywhere, in XML.
        for i, address in enumerate(("127.0.0.4", "127.0.0.5", "127.0.0.6")):
            with _from(address, srv) as c:
                assert c.get(path, auth=(srv.username, f"guess-{i}")).status_code == 401
        with _from("127.0.0.7", srv) as c:
            r = c.get(path, auth=(srv.username, "another-guess"))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert etree.fromstring(r.content).findtext("ResponseStatus/Description")
        # The header the neighbour verified was forgotten with the block.
        assert neighbour.get(path, auth=srv.auth).status_code == 429
        assert neighbour.get("/health").status_code == 200
