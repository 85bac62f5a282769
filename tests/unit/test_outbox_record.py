"""store/callbacks.record, the rules that move an event after an attempt, on both backends:
delivered always wins; expired only while pending; a retry only while pending and still our
lease; every attempt is written either way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from openband.clock import now
from openband.ids import event_id
from openband.store import callbacks as repo
from openband.store.db import Database

LEASE = timedelta(minutes=5)


def _event(key: str, expires_in: timedelta = timedelta(hours=1)) -> repo.NewEvent:
    return repo.NewEvent(
        id=event_id(),
        account_id="9900001",
        application_id=None,
        kind="messaging",
        ordering_key=key,
        event_type="message-delivered",
        url="http://127.0.0.1:9/cb",
        payload='[{"type":"message-delivered","text":"\\u00f1 \\"q\\""}]',
        expires_at=now() + expires_in,
    )


def _outcome(ev: repo.ClaimedEvent, ok: bool, *, expired: bool = False) -> repo.Outcome:
    at = now()
    return repo.Outcome(
        ev.id,
        at,
        204 if ok else 503,
        1.5,
        None if ok else "HTTP 503 'x'",
        ok,
        ev.attempts,
        at - timedelta(seconds=1) if expired else ev.expires_at,
    )


async def _record(db: Database, worker: str, outcomes: list[repo.Outcome]) -> None:
    async with db.begin() as conn:
        await repo.record(conn, worker, outcomes, retry_base=60, retry_cap=600)


def test_record_rules(on_db) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database) -> None:
        events = [_event(f"k{i}") for i in range(5)]
        async with db.begin() as conn:
            await repo.enqueue(conn, events)
        async with db.begin() as conn:
            mine = await repo.claim(conn, "w1", 10, LEASE, postgres=db.is_postgres)
        assert len(mine) == 5
        by_key = {ev.id: ev for ev in mine}
        e_ok, e_retry, e_expire, e_lost_retry, e_lost_ok = (by_key[e.id] for e in events)
        # Two leases lapsed meanwhile and another worker took those events over.
        async with db.begin() as conn:
            await conn.execute(
                update(repo.callback_events)
                .where(repo.callback_events.c.id.in_([e_lost_retry.id, e_lost_ok.id]))
                .values(claimed_by="w2")
            )
        await _record(
            db,
            "w1",
            [
                _outcome(e_ok, True),
                _outcome(e_retry, False),
                _outcome(e_expire, False, expired=True),
                _outcome(e_lost_retry, False),
                _outcome(e_lost_ok, True),
            ],
        )
        async with db.connect() as conn:
            rows = {r.id: r for r in await repo.list_events(conn, limit=10)}
            attempts = await repo.attempts_for(conn, list(rows))
        assert rows[e_ok.id].status == repo.DELIVERED and rows[e_ok.id].delivered_at is not None
        assert rows[e_ok.id].claimed_by is None and rows[e_ok.id].attempts == 1
        # Rescheduled, after the backoff (base 60 s, jittered to 50-100 %).
        r = rows[e_retry.id]
        assert r.status == repo.PENDING and r.claimed_by is None and r.attempts == 1
        assert now() + timedelta(seconds=25) < r.next_attempt_at < now() + timedelta(seconds=61)
        assert rows[e_expire.id].status == repo.EXPIRED and rows[e_expire.id].attempts == 1
        # Lost lease: our failure changes nothing (the new holder's attempt decides) ...
        lost = rows[e_lost_retry.id]
        assert lost.status == repo.PENDING and lost.claimed_by == "w2" and lost.attempts == 0
        # ... but a delivery is the truth whoever holds the lease.
        assert rows[e_lost_ok.id].status == repo.DELIVERED
        # Every attempt is on record, with its answer and, for the retry, when the next comes.
        assert all(len(a) == 1 for a in attempts.values())
        retry_attempt = attempts[e_retry.id][0]
        assert retry_attempt.status_code == 503 and retry_attempt.error == "HTTP 503 'x'"
        assert retry_attempt.next_retry_at == r.next_attempt_at
        assert attempts[e_ok.id][0].next_retry_at is None
        assert attempts[e_ok.id][0].worker == "w1" and attempts[e_ok.id][0].latency_ms == 1.5

    on_db(check)
