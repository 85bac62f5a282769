"""The callback outbox and delivery worker against a real local receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text, update

from openband.clock import now
from openband.config import Settings
from openband.delivery import signing
from openband.delivery.worker import DeliveryWorker
from openband.store import callbacks as repo
from openband.store.db import Database, make_sync_engine, migrate
from openband.store.schema import callback_events
from tests.support.backends import create_pg_schema, drop_pg_schema, postgres_base_url
from tests.support.outbox import SEALER, enqueue_event
from tests.support.webhook_sink import Sink, free_port

_PG = postgres_base_url()
BACKENDS = ["sqlite"] + (["postgres"] if _PG else [])


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('cb')) / 'cb.db'}"
        migrate(url)
        yield url
        return
    assert _PG is not None
    url, schema = create_pg_schema(_PG)
    try:
        migrate(url)
        yield url
    finally:
        drop_pg_schema(_PG, schema)


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    yield db_url
    engine = make_sync_engine(db_url)  # each test starts with an empty outbox
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM callback_attempts"))
        conn.execute(text("DELETE FROM callback_events"))
    engine.dispose()


def settings_for(url: str, **kw: object) -> Settings:
    base: dict[str, object] = {
        "database_url": url,
        "worker_poll_seconds": 0.05,
        "callback_timeout_seconds": 1.0,
        "callback_retry_base_seconds": 0.05,
        "callback_retry_max_seconds": 0.2,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@dataclass
class Env:
    settings: Settings
    db: Database
    sink: Sink
    workers: list[DeliveryWorker] = field(default_factory=list)

    async def enqueue(
        self,
        url: str,
        event: dict[str, object] | None = None,
        *,
        key: str = "m1:+15550001",
        auth: tuple[str, str] | None = ("cbuser", "cbpass"),
        secret: str | None = None,
        message_id: str | None = "m1",
    ) -> str:
        async with self.db.begin() as conn:
            eid = await enqueue_event(
                conn,
                account_id="9900001",
                application_id="app-1",
                kind="messaging",
                url=url,
                body_events=event or {"type": "message-delivered", "to": "+15550001"},
                auth=auth,
                ordering_key=key,
                message_id=message_id,
                signing_secret=secret,
                retry_hours=self.settings.callback_retry_hours,
            )
        for w in self.workers:
            w.wake()
        return eid

    async def event(self, eid: str) -> repo.EventRow:
        async with self.db.connect() as conn:
            row = await repo.get_event(conn, eid)
        assert row is not None
        return row

    async def attempts(self, eid: str) -> list[repo.AttemptRow]:
        async with self.db.connect() as conn:
            return (await repo.attempts_for(conn, [eid]))[eid]

    async def wait_status(self, eid: str, status: str, timeout: float = 10.0) -> repo.EventRow:
        deadline = time.monotonic() + timeout
        while True:
            row = await self.event(eid)
            if row.status == status:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"{eid} is {row.status}, not {status}")
            await asyncio.sleep(0.02)

    async def wait(self, pred: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met")
            await asyncio.sleep(0.02)

    async def claim_rounds(self, n: int = 1, timeout: float = 10.0) -> None:
        """Wait until every worker has run `n` whole claims that started after this call and
        holds nothing claimed: whatever was due by now has been claimed, sent and recorded."""
        start = [w.stats["claim-queries"] for w in self.workers]
        for w in self.workers:
            w.wake()
        # The (n+1)-th query starts after the n-th has ended.
        await self.wait(
            lambda: all(
                w.stats["claim-queries"] >= s + n + 1 and w.in_flight == 0
                for w, s in zip(self.workers, start, strict=True)
            ),
            timeout,
        )


def run(
    url: str,
    body: Callable[[Env], Awaitable[None]],
    *,
    workers: int = 1,
    separate_engines: bool = False,
    **settings_kw: object,
) -> None:
    async def go() -> None:
        settings = settings_for(url, **settings_kw)
        db = Database(url)
        sink = await Sink().start()
        env = Env(settings, db, sink)
        dbs = [Database(url) if separate_engines else db for _ in range(workers)]
        env.workers = [
            DeliveryWorker(settings, d, sealer=SEALER, worker_id=f"w{i}") for i, d in enumerate(dbs)
        ]
        for w in env.workers:
            w.start()
        try:
            await body(env)
        finally:
            for w in env.workers:
                await w.stop()
            await sink.stop()
            for d in {id(d): d for d in [db, *dbs]}.values():
                await d.dispose()

    asyncio.run(go())


# --- delivery -----------------------------------------------------------------------------------


def test_delivered_on_2xx_with_bandwidth_headers(url: str) -> None:
    async def body(env: Env) -> None:
        event = {"type": "message-delivered", "to": "+15550001", "message": {"id": "m1"}}
        eid = await env.enqueue(env.sink.url("/status"), event)
        row = await env.wait_status(eid, repo.DELIVERED)
        assert row.attempts == 1 and row.delivered_at is not None
        (req,) = env.sink.requests
        assert orjson.loads(req.body) == [event]  # messaging callbacks are a JSON array
        assert req.headers["Content-Type"] == "application/json; charset=utf-8"
        assert req.headers["User-Agent"] == "BandwidthAPI/v2"
        assert req.headers["X-OpenBand-Event-Id"] == eid
        assert (
            req.headers["Authorization"] == "Basic " + base64.b64encode(b"cbuser:cbpass").decode()
        )
        assert signing.SIGNATURE_HEADER not in req.headers
        (attempt,) = await env.attempts(eid)
        assert attempt.status_code == 200 and attempt.error is None
        assert attempt.next_retry_at is None and attempt.worker == env.workers[0].id

    run(url, body)


def test_no_auth_header_without_creds(url: str) -> None:
    async def body(env: Env) -> None:
        eid = await env.enqueue(env.sink.url("/in"), auth=None)
        await env.wait_status(eid, repo.DELIVERED)
        assert "Authorization" not in env.sink.requests[0].headers

    run(url, body)


@pytest.mark.parametrize(
    "answers", [["500", "500", "200"], ["sleep:1.5", "200"], ["reset", "503", "204"]]
)
def test_retried_until_2xx_with_the_same_event_id(url: str, answers: list[str]) -> None:
    async def body(env: Env) -> None:
        env.sink.script("/cb", answers)
        eid = await env.enqueue(env.sink.url("/cb"))
        row = await env.wait_status(eid, repo.DELIVERED)
        reqs = env.sink.on("/cb")
        assert len(reqs) == len(answers) == row.attempts
        assert {r.headers["X-OpenBand-Event-Id"] for r in reqs} == {eid}
        assert len({r.body for r in reqs}) == 1  # the same bytes every time
        attempts = await env.attempts(eid)
        assert len(attempts) == len(answers)
        assert all(a.next_retry_at is not None for a in attempts[:-1])
        assert attempts[-1].status_code is not None and 200 <= attempts[-1].status_code < 300
        assert all(a.error for a in attempts[:-1])

    run(url, body, callback_timeout_seconds=0.3)


def test_retried_on_connection_refused_then_delivered(url: str) -> None:
    async def body(env: Env) -> None:
        port = free_port()
        eid = await env.enqueue(f"http://127.0.0.1:{port}/late")
        deadline = time.monotonic() + 10
        while len(await env.attempts(eid)) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        first = (await env.attempts(eid))[0]
        assert first.status_code is None and "connect" in (first.error or "")
        late = await Sink().start(port)  # the receiver comes up
        try:
            await env.wait_status(eid, repo.DELIVERED)
            assert [r.headers["X-OpenBand-Event-Id"] for r in late.requests] == [eid]
        finally:
            await late.stop()

    run(url, body)


def test_order_per_ordering_key(url: str) -> None:
    async def body(env: Env) -> None:
        env.sink.script("/o", ["500", "500", "200"])
        types = ["message-sending", "message-sent", "message-delivered"]
        ids = [
            await env.enqueue(
                env.sink.url("/o"), {"type": t, "to": "+1"}, key="mX:+1", message_id="mX"
            )
            for t in types
        ]
        # Keys on either side of mX's range in bytewise order ('0' < ':' < ';' < 'a').
        others = [
            await env.enqueue(env.sink.url("/other"), key=f"{mid}:+1", message_id=mid)
            for mid in ("mY", "mX0", "mXa")
        ]
        for eid in ids + others:
            await env.wait_status(eid, repo.DELIVERED)
        seen = [r.headers["X-OpenBand-Event-Id"] for r in env.sink.on("/o")]
        # The first event's two failures hold the others back: nothing overtakes it.
        assert seen == [ids[0], ids[0], ids[0], ids[1], ids[2]]
        async with env.db.connect() as conn:
            rows = await repo.list_events(conn, message_id="mX")
        # A message's events, and only its own: one range of the key index (no index of their own).
        assert [(r.id, r.seq) for r in rows] == [(ids[0], 1), (ids[1], 2), (ids[2], 3)]

    run(url, body)


def test_many_keys_keep_their_order_under_concurrency(url: str) -> None:
    async def body(env: Env) -> None:
        ids: dict[str, list[str]] = {}
        for n in range(5):
            for k in range(20):
                key = f"m{k}:+1"
                ids.setdefault(key, []).append(
                    await env.enqueue(env.sink.url("/k"), {"type": f"e{n}"}, key=key)
                )
        await env.wait(lambda: len(env.sink.ok_on("/k")) == 100)
        order: dict[str, list[str]] = {}
        by_id = {eid: key for key, lst in ids.items() for eid in lst}
        for r in env.sink.on("/k"):
            eid = r.headers["X-OpenBand-Event-Id"]
            order.setdefault(by_id[eid], []).append(eid)
        assert order == ids

    run(url, body)


def test_dead_endpoint_does_not_delay_a_healthy_one(url: str) -> None:
    async def body(env: Env) -> None:
        # A black hole: accepts connections, reads, never answers.
        release = asyncio.Event()
        accepted = 0

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            await release.wait()
            writer.close()

        hole = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = hole.sockets[0].getsockname()[1]
        try:
            dead = [await env.enqueue(f"http://127.0.0.1:{port}/d", key=f"d{i}") for i in range(40)]
            await env.wait(lambda: accepted >= env.settings.callback_per_host)
            healthy = [f"ok{i}" for i in range(40)]
            async with env.db.begin() as conn:
                for key in healthy:
                    await enqueue_event(
                        conn,
                        account_id="a",
                        application_id=None,
                        kind="messaging",
                        url=env.sink.url("/h"),
                        body_events={"type": "message-delivered"},
                        auth=None,
                        ordering_key=key,
                    )
            env.workers[0].wake()
            await env.wait(lambda: len(env.sink.ok_on("/h")) == 40, timeout=7)
            # All delivered while the dead endpoint's first requests are still hanging.
            assert accepted <= env.settings.callback_per_host  # its cap, not everybody's
            async with env.db.connect() as conn:
                tried = await repo.attempts_for(conn, dead)
            assert sum(len(v) for v in tried.values()) == 0
        finally:
            release.set()
            hole.close()

    run(url, body, callback_timeout_seconds=8.0, callback_per_host=4)


def test_expired_after_the_retry_window(url: str) -> None:
    async def body(env: Env) -> None:
        env.sink.script("/x", ["500"])
        eid = await env.enqueue(env.sink.url("/x"))
        row = await env.wait_status(eid, repo.EXPIRED, timeout=10)
        attempts = await env.attempts(eid)
        assert len(attempts) >= 2 and row.attempts == len(attempts)
        assert attempts[-1].next_retry_at is None
        assert attempts[-1].at >= row.expires_at - timedelta(milliseconds=50)
        # No attempts after expiry: more whole claim rounds find nothing of it to send, and every
        # request the receiver got is a recorded attempt.
        await env.claim_rounds(3)
        assert len(env.sink.on("/x")) == len(attempts) == len(await env.attempts(eid))

    run(url, body, callback_retry_hours=0.6 / 3600)


def test_finished_events_are_deleted_after_the_retention_window(url: str) -> None:
    async def body(env: Env) -> None:
        old = await env.enqueue(env.sink.url("/ok"), key="k-old")
        recent = await env.enqueue(env.sink.url("/ok"), key="k-recent")
        env.sink.script("/down", ["500"])
        stuck = await env.enqueue(env.sink.url("/down"), key="k-stuck")
        await env.wait_status(old, repo.DELIVERED)
        await env.wait_status(recent, repo.DELIVERED)
        await env.wait(lambda: len(env.sink.on("/down")) >= 1)
        async with env.db.begin() as conn:  # two of them were created long ago
            await conn.execute(
                update(callback_events)
                .where(callback_events.c.id.in_([old, stuck]))
                .values(created_at=now() - timedelta(hours=3))
            )
        assert await env.workers[0].purge() == 1
        async with env.db.connect() as conn:
            assert await repo.get_event(conn, old) is None
            assert (await repo.attempts_for(conn, [old]))[old] == []  # attempts went with it
            assert (await repo.get_event(conn, recent)) is not None  # within the window
            kept = await repo.get_event(conn, stuck)  # still pending: kept however old
            assert kept is not None and kept.status == repo.PENDING
            assert (await repo.attempts_for(conn, [recent]))[recent]
        assert await env.workers[0].purge() == 0

    run(url, body, callback_retention_hours=1)


def test_signature_header_verifies(url: str) -> None:
    async def body(env: Env) -> None:
        eid = await env.enqueue(env.sink.url("/sig"), secret="whsec_test")
        await env.wait_status(eid, repo.DELIVERED)
        (req,) = env.sink.requests
        header = req.headers[signing.SIGNATURE_HEADER]
        assert signing.verify("whsec_test", req.body, header)
        assert not signing.verify("wrong", req.body, header)

    run(url, body)


def test_replay_sends_the_same_event_again(url: str) -> None:
    async def body(env: Env) -> None:
        eid = await env.enqueue(env.sink.url("/r"))
        await env.wait_status(eid, repo.DELIVERED)
        async with env.db.begin() as conn:
            assert await repo.replay(conn, eid, timedelta(hours=1))
            assert not await repo.replay(conn, "no-such-event", timedelta(hours=1))
        env.workers[0].wake()
        await env.wait(lambda: len(env.sink.on("/r")) == 2)
        row = await env.wait_status(eid, repo.DELIVERED)
        a, b = env.sink.on("/r")
        assert a.body == b.body
        assert a.headers["X-OpenBand-Event-Id"] == b.headers["X-OpenBand-Event-Id"] == eid
        assert row.attempts == 2 and len(await env.attempts(eid)) == 2

    run(url, body)


def test_lease_of_a_dead_worker_is_taken_over(url: str) -> None:
    lease = 1.0

    async def body(env: Env) -> None:
        claimed_at = time.time()  # the lease runs from the claim's clock reading, after this
        async with env.db.begin() as conn:
            eid = await enqueue_event(
                conn,
                account_id="a",
                application_id=None,
                kind="messaging",
                url=env.sink.url("/t"),
                body_events={"type": "message-sent"},
                auth=None,
                ordering_key="lease",
            )
            # In the same transaction, so the live worker cannot see it first: a node claims it
            # and dies.
            claimed = await repo.claim(
                conn, "dead-node", 10, timedelta(seconds=lease), postgres=env.db.is_postgres
            )
        assert [c.id for c in claimed] == [eid]
        await env.claim_rounds(2)  # the live worker looked at least twice...
        if time.time() < claimed_at + lease:
            assert env.sink.requests == []  # ...and left it to the dead node's lease
        await env.wait_status(eid, repo.DELIVERED, timeout=5)
        # Taken over once the lease had passed, not before.
        (req,) = env.sink.requests
        assert req.at >= claimed_at + lease, req.at - claimed_at

    run(url, body)


def test_claim_takes_at_most_a_hosts_share_and_leaves_the_rest_unclaimed(url: str) -> None:
    async def body(env: Env) -> None:
        for w in env.workers:
            await w.stop()  # claims by hand only
        env.workers = []
        a, b = env.sink.url("/a"), f"http://127.0.0.1:{env.sink.port + 1}/b"
        ids = {u: [await env.enqueue(u, key=f"{u}{i}") for i in range(4)] for u in (a, b)}
        lease = timedelta(seconds=30)
        pg = env.db.is_postgres
        host_a = repo.host_key(a)
        async with env.db.begin() as conn:
            got, passed = await repo.claim_batch(
                conn, "n1", 10, lease, postgres=pg, host_cap=3, held={host_a: 1}
            )
        assert sorted(e.id for e in got) == sorted(ids[a][:2] + ids[b][:3])
        assert passed == 3
        async with env.db.begin() as conn:
            # Claimed events left the due range; the passed-over ones are still claimable.
            rest = await repo.claim(conn, "n2", 10, lease, postgres=pg)
        assert sorted(e.id for e in rest) == sorted(ids[a][2:] + ids[b][3:])

    run(url, body)


def test_two_workers_share_the_outbox_without_double_sends(url: str) -> None:
    n_keys, per_key = 40, 5

    async def body(env: Env) -> None:
        env.sink.delay = 0.003  # widen any window in which an event could be sent twice
        ids: dict[str, list[str]] = {}
        for n in range(per_key):
            async with env.db.begin() as conn:
                for k in range(n_keys):
                    key = f"m{k}:+1"
                    eid = await enqueue_event(
                        conn,
                        account_id="a",
                        application_id=None,
                        kind="messaging",
                        url=env.sink.url("/two"),
                        body_events={"type": f"e{n}"},
                        auth=None,
                        ordering_key=key,
                        message_id=f"m{k}",
                    )
                    ids.setdefault(key, []).append(eid)
            for w in env.workers:
                w.wake()
        total = n_keys * per_key
        await env.wait(lambda: len(env.sink.requests) >= total, timeout=30)

        async def all_delivered() -> bool:
            async with env.db.connect() as conn:
                return await repo.count_by_status(conn) == {repo.DELIVERED: total}

        deadline = time.monotonic() + 30
        while not await all_delivered():
            assert time.monotonic() < deadline, "not every event was recorded as delivered"
            await asyncio.sleep(0.02)
        # Every event is final and both workers ran whole claims since holding nothing: no
        # send is still to come, so what the receiver has is everything.
        await env.claim_rounds(1)
        got = [r.headers["X-OpenBand-Event-Id"] for r in env.sink.requests]
        assert env.sink.overlaps == []
        assert len(got) == total and len(set(got)) == total  # each exactly once
        by_id = {eid: key for key, lst in ids.items() for eid in lst}
        order: dict[str, list[str]] = {}
        for eid in got:
            order.setdefault(by_id[eid], []).append(eid)
        assert order == ids
        async with env.db.connect() as conn:
            assert await repo.count_by_status(conn) == {repo.DELIVERED: total}
        claimed = [w.stats["claimed"] for w in env.workers]
        assert sum(claimed) == total and all(c > 0 for c in claimed), claimed

    run(url, body, workers=2, separate_engines=True, callback_batch_size=16)


def test_stop_releases_unsent_claims(url: str) -> None:
    async def go() -> None:
        settings = settings_for(url, callback_per_host=1, callback_timeout_seconds=5)
        db = Database(url)
        sink = await Sink().start()
        sink.script("/s", ["sleep:0.5"])
        env = Env(settings, db, sink)
        worker = DeliveryWorker(settings, db, sealer=SEALER)
        env.workers = [worker]
        worker.start()
        try:
            ids = [await env.enqueue(sink.url("/s"), key=f"k{i}") for i in range(5)]
            await env.wait(lambda: len(sink.requests) >= 1)
            await worker.stop()
            async with db.connect() as conn:
                rows = [await repo.get_event(conn, i) for i in ids]
            assert all(r is not None and r.claimed_by is None for r in rows)
            assert all(r is not None and r.status == repo.PENDING for r in rows)
        finally:
            await sink.stop()
            await db.dispose()

    asyncio.run(go())


# --- the server wires the worker in ----------------------------------------------------------------


def test_server_runs_a_delivery_worker(harness) -> None:  # type: ignore[no-untyped-def]
    worker = harness.app.state.node.delivery
    assert isinstance(worker, DeliveryWorker)

    async def go(db: Database) -> tuple[Sink, str]:
        sink = await Sink().start()
        async with db.begin() as conn:
            eid = await enqueue_event(
                conn,
                account_id="a",
                application_id=None,
                kind="voice",
                url=sink.url("/v"),
                body_events={"eventType": "initiate", "callId": "c-1"},
                auth=None,
                ordering_key="c-1",
                array=False,
            )
        worker.wake()
        return sink, eid

    sink, eid = harness.run(go)
    try:
        harness.wait_for(lambda: len(sink.requests) == 1)
        assert orjson.loads(sink.requests[0].body) == {"eventType": "initiate", "callId": "c-1"}
        assert sink.requests[0].headers["X-OpenBand-Event-Id"] == eid
    finally:
        harness.run(lambda db: sink.stop())
