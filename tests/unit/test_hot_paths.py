"""The throughput work's building blocks: the verified-header cache, the SQLite writer queue and
inline writer engine, and how a batch of status reports collapses."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from openband.core.accounts import CredentialCache, Principal, hash_secret
from openband.core.messaging.sink import _absorbs
from openband.network.messaging import StatusReport
from openband.store.accounts import CredentialRow
from openband.store.db import Database
from tests.support.fakes import NullDb


def test_header_cache_follows_the_credential_row(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from openband.core import accounts

    rows = {"h": hash_secret("pw")}
    reads = {"n": 0}

    async def fake_get(conn, kind, principal):  # type: ignore[no-untyped-def]
        reads["n"] += 1
        await asyncio.sleep(0.01)
        return CredentialRow("acct", kind, principal, rows["h"])

    monkeypatch.setattr(accounts.repo, "get_credential", fake_get)

    cache = CredentialCache(ttl_seconds=60)
    header = "Basic dTpwdw=="

    async def scenario() -> None:
        assert cache.cached_header(header, ("basic",)) is None
        # concurrent misses of one row share a single read
        found = await asyncio.gather(
            *(cache.authenticate(NullDb(), ("basic",), "u", "pw") for _ in range(20))
        )
        assert all(p == Principal("acct", "basic", "u") for p in found)
        assert reads["n"] == 1
        cache.remember_header(header, found[0])
        assert cache.cached_header(header, ("basic",)) == found[0]
        assert cache.cached_header(header, ("v1",)) is None
        # a new hash (password changed elsewhere) is seen when the row is read again
        rows["h"] = hash_secret("new")
        cache._rows.clear()
        assert cache.cached_header(header, ("basic",)) is None
        assert await cache.authenticate(NullDb(), ("basic",), "u", "pw") is None

    asyncio.run(scenario())


def test_sqlite_writers_queue_in_process_and_wait_for_others_without_blocking(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    url = f"sqlite:///{path}"

    async def scenario() -> None:
        db = Database(url)
        other = Database(url)  # a second Database on the file shares the queue
        try:
            async with db.begin() as conn:
                await conn.execute(text("CREATE TABLE t (a INTEGER)"))

            async def write(d: Database, v: int) -> None:
                async with d.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": v})
                    await asyncio.sleep(0.005)  # hold the write across an await

            await asyncio.gather(*(write(db if i % 2 else other, i) for i in range(20)))

            # Another process's writer: the event loop keeps running while we wait for it.
            def hold() -> None:
                c = sqlite3.connect(path, isolation_level=None)
                c.execute("BEGIN IMMEDIATE")
                time.sleep(0.3)
                c.execute("COMMIT")
                c.close()

            th = threading.Thread(target=hold)
            th.start()
            await asyncio.sleep(0.05)
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            await write(db, 99)
            ticker.cancel()
            th.join()
            assert ticks >= 5
            async with db.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 21
        finally:
            await db.dispose()
            await other.dispose()

    asyncio.run(scenario())


def _r(status: str, carrier: str | None = "C") -> StatusReport:
    return StatusReport("m", "+1", status, carrier_name=carrier)  # type: ignore[arg-type]


def test_a_silent_transition_is_absorbed_by_the_next() -> None:
    # sent (no callback) then delivered: one transition to delivered ends the same way
    assert _absorbs("DELIVERED", _r("delivered"), (_r("sent"), "SENT", None))
    assert _absorbs("FAILED", _r("failed"), (_r("sent"), "SENT", None))
    # sending tells a callback (MMS): both are applied
    assert not _absorbs("DELIVERED", _r("delivered"), (_r("sending"), "SENDING", None))
    # the earlier report sets a carrier the later one does not
    assert not _absorbs("DELIVERED", _r("delivered", None), (_r("sent"), "SENT", None))
