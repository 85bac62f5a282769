"""SQL of the callback outbox: enqueue, claim with a lease, record attempts in batches.

Claims: PostgreSQL uses FOR UPDATE SKIP LOCKED so several nodes never take the same event;
SQLite has one writer at a time (BEGIN IMMEDIATE), which gives the same guarantee. A claim is a
lease: when a node dies, its events become claimable again once `claimed_until` passes.

Order: an event is claimable only when no earlier event (lower seq; ties broken by id) with the
same ordering_key is still pending, so one message's events to one recipient arrive in order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now as utcnow
from openband.store.db import insert_rows, one_of
from openband.store.schema import callback_attempts, callback_events

PENDING, DELIVERED, EXPIRED = "pending", "delivered", "expired"

_e = callback_events
_p = callback_events.alias("earlier")


def host_key(url: str) -> str:
    """scheme://host:port, the unit of the per-host concurrency cap."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"[:300]


def message_key(message_id: str, recipient: str) -> str:
    """The ordering key of a message's events to one recipient. Keys sort bytewise (see
    schema.callback_events), so one message's keys are one range of the key index."""
    return f"{message_id}:{recipient}"


def _message_keys(message_id: str) -> Any:
    # ':' + 1 == ';': every key "<message_id>:..." and nothing else, in bytewise order.
    return and_(
        _e.c.ordering_key >= message_key(message_id, ""),
        _e.c.ordering_key < f"{message_id};",
        _e.c.message_id == message_id,
    )


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt  # SQLite returns naive UTC


# Not frozen (a frozen __init__ pays per field; one per callback): treat as immutable.
@dataclass(slots=True)
class NewEvent:
    id: str
    account_id: str
    application_id: str | None
    kind: str
    ordering_key: str
    event_type: str
    url: str
    payload: str
    expires_at: datetime
    message_id: str | None = None
    auth_user: str | None = None
    auth_password: str | None = None
    signing_secret: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: str
    url: str
    host: str
    payload: str
    auth_user: str | None
    auth_password: str | None
    signing_secret: str | None
    attempts: int  # attempts made before this one
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result, as the worker hands it to `record`."""

    event_id: str
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    ok: bool
    attempts_before: int
    expires_at: datetime


# seq = 1 + the highest seq of the key, computed in the INSERT itself: one round trip, and the
# caller's transaction (which serialises changes to one message) orders the events.
_seq = (
    select(func.coalesce(func.max(_p.c.seq), 0) + 1)
    .where(_p.c.ordering_key == bindparam("okey"))
    .scalar_subquery()
)
_INSERT = callback_events.insert().values(seq=_seq)


async def enqueue(
    conn: AsyncConnection, events: Sequence[NewEvent], at: datetime | None = None
) -> None:
    """Insert events inside the caller's transaction (they commit with the change)."""
    ts = at or utcnow()
    rows = [
        {
            "okey": ev.ordering_key,
            "id": ev.id,
            "account_id": ev.account_id,
            "application_id": ev.application_id,
            "kind": ev.kind,
            "message_id": ev.message_id,
            "ordering_key": ev.ordering_key,
            "event_type": ev.event_type,
            "url": ev.url,
            "host": host_key(ev.url),
            "payload": ev.payload,
            "auth_user": ev.auth_user,
            "auth_password": ev.auth_password,
            "signing_secret": ev.signing_secret,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": ts,
            "created_at": ts,
            "expires_at": ev.expires_at,
        }
        for ev in events
    ]
    if rows:
        await conn.execute(_INSERT, rows)


# Literals (not bound parameters) let both backends use the partial indexes.
_PENDING = literal_column("'pending'")
_FINISHED = _e.c.status.in_([literal_column(f"'{DELIVERED}'"), literal_column(f"'{EXPIRED}'")])

# An earlier event of the same key still pending holds this one back (seq; ties broken by id).
# "Not delivered or expired" rather than "= 'pending'" on purpose: the latter matches the partial
# pending index, which PostgreSQL (without fresh statistics, e.g. after a burst) then scanned
# whole for every candidate. This way the probe can only use the (ordering_key, seq) index.
_earlier = exists(
    select(literal(1))
    .select_from(_p)
    .where(
        _p.c.ordering_key == _e.c.ordering_key,
        _p.c.status.not_in([literal_column(f"'{DELIVERED}'"), literal_column(f"'{EXPIRED}'")]),
        or_(_p.c.seq < _e.c.seq, and_(_p.c.seq == _e.c.seq, _p.c.id < _e.c.id)),
    )
)


def _due_query(*, postgres: bool, exclude: bool) -> Select[tuple[str, str]]:
    ts = bindparam("ts", type_=_e.c.next_attempt_at.type)
    q = (
        select(_e.c.id, _e.c.host)
        .where(
            _e.c.status == _PENDING,
            _e.c.next_attempt_at <= ts,
            # Normally implied (a claim moves next_attempt_at to the lease end); kept for rows
            # claimed before that rule.
            or_(_e.c.claimed_until.is_(None), _e.c.claimed_until < ts),
            ~_earlier,
        )
        .order_by(_e.c.next_attempt_at)
        .limit(bindparam("limit"))
    )
    if exclude:
        q = q.where(_e.c.host.not_in(bindparam("hosts", expanding=True)))
    if postgres:
        q = q.with_for_update(skip_locked=True, of=_e)
    return q


# Built once: constructing a statement per call costs about as much as running a small one.
_DUE = {
    (pg, ex): _due_query(postgres=pg, exclude=ex) for pg in (False, True) for ex in (False, True)
}


def _take(postgres: bool) -> Any:
    """The chosen rows, leased. next_attempt_at moves to the lease end so claimed events drop out
    of the due range (the claim scans only unclaimed ones) and come back by themselves if we
    die."""
    return (
        update(_e)
        .where(one_of(_e.c.id, "ids", postgres=postgres))
        .values(
            claimed_by=bindparam("w"),
            claimed_until=bindparam("until", type_=_e.c.claimed_until.type),
            next_attempt_at=bindparam("until", type_=_e.c.next_attempt_at.type),
        )
        .returning(
            _e.c.id,
            _e.c.url,
            _e.c.host,
            _e.c.payload,
            _e.c.auth_user,
            _e.c.auth_password,
            _e.c.signing_secret,
            _e.c.attempts,
            _e.c.expires_at,
        )
    )


_TAKE = {pg: _take(pg) for pg in (False, True)}


async def claim_batch(
    conn: AsyncConnection,
    worker: str,
    limit: int,
    lease: timedelta,
    *,
    postgres: bool,
    exclude_hosts: Iterable[str] = (),
    host_cap: int | None = None,
    held: Mapping[str, int] | None = None,
    at: datetime | None = None,
) -> tuple[list[ClaimedEvent], int]:
    """Lease up to `limit` due events, oldest first, at most `host_cap` - held[host] of a host.

    Returns the claimed events and how many due events were passed over for their host's cap
    (left untouched: no write, and on PostgreSQL their row locks end with the transaction).
    """
    ts = at or utcnow()
    hosts = list(exclude_hosts)
    params: dict[str, object] = {"ts": ts, "limit": limit}
    if hosts:
        params["hosts"] = hosts
    due = (await conn.execute(_DUE[(postgres, bool(hosts))], params)).all()
    if not due:
        return [], 0
    chosen: list[str] = []
    if host_cap is None:
        chosen = [r[0] for r in due]
    else:
        taken: dict[str, int] = dict(held or {})
        for eid, host in due:
            n = taken.get(host, 0)
            if n < host_cap:
                taken[host] = n + 1
                chosen.append(eid)
    if not chosen:
        return [], len(due)
    rows = {
        r[0]: ClaimedEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _aware(r[8]))
        for r in await conn.execute(
            _TAKE[postgres], {"ids": chosen, "w": worker, "until": ts + lease}
        )
    }
    return [rows[i] for i in chosen if i in rows], len(due) - len(chosen)


async def claim(
    conn: AsyncConnection, worker: str, limit: int, lease: timedelta, **kw: Any
) -> list[ClaimedEvent]:
    """`claim_batch` without the count of passed-over events."""
    return (await claim_batch(conn, worker, limit, lease, **kw))[0]


_RELEASE = {
    pg: update(_e)
    .where(
        one_of(_e.c.id, "ids", postgres=pg),
        _e.c.claimed_by == bindparam("w"),
        _e.c.status == _PENDING,
    )
    .values(claimed_by=None, claimed_until=None, next_attempt_at=bindparam("ts"))
    for pg in (False, True)
}


async def release(conn: AsyncConnection, worker: str, ids: Sequence[str]) -> None:
    """Give claims back without an attempt (at shutdown): due again at once."""
    if ids:
        pg = conn.dialect.name == "postgresql"
        await conn.execute(_RELEASE[pg], {"ids": list(ids), "w": worker, "ts": utcnow()})


def backoff(failures: int, base: float, cap: float) -> float:
    """Seconds before the next attempt after `failures` failed ones: base*2^(n-1), capped,
    jittered to 50-100% so a burst of failures does not retry in lockstep."""
    delay = min(cap, base * 2 ** min(max(failures - 1, 0), 40))
    return delay * (0.5 + random.random() / 2)


async def record(
    conn: AsyncConnection,
    worker: str,
    outcomes: Sequence[Outcome],
    *,
    retry_base: float,
    retry_cap: float,
    at: datetime | None = None,
) -> None:
    """Write a batch of attempts and move each event on: delivered, rescheduled or expired."""
    if not outcomes:
        return
    ts = at or utcnow()
    delivered: list[str] = []
    expired: list[str] = []
    retries: list[dict[str, object]] = []
    attempt_rows: list[dict[str, object]] = []
    for o in outcomes:
        next_at: datetime | None = None
        if o.ok:
            delivered.append(o.event_id)
        elif ts >= o.expires_at:
            expired.append(o.event_id)
        else:
            delay = backoff(o.attempts_before + 1, retry_base, retry_cap)
            # The last try lands on the deadline rather than past it.
            next_at = min(ts + timedelta(seconds=delay), o.expires_at)
            retries.append({"eid": o.event_id, "w": worker, "next_at": next_at})
        attempt_rows.append(
            {
                "event_id": o.event_id,
                "at": o.at,
                "status_code": o.status_code,
                "latency_ms": round(o.latency_ms, 3),
                "error": o.error[:2000] if o.error else None,
                "next_retry_at": next_at,
                "worker": worker[:64],
            }
        )
    await insert_rows(conn, callback_attempts, attempt_rows)
    pg = conn.dialect.name == "postgresql"
    if delivered:
        await conn.execute(_DELIVERED[pg], {"ids": delivered, "ts": ts})
    if expired:
        await conn.execute(_EXPIRED[pg], {"ids": expired})
    if retries:
        await conn.execute(_RETRY, retries)


# Delivered is the truth even if our lease was lost meanwhile: the receiver has it.
_DELIVERED = {
    pg: update(_e)
    .where(one_of(_e.c.id, "ids", postgres=pg))
    .values(
        status=DELIVERED,
        delivered_at=bindparam("ts", type_=_e.c.delivered_at.type),
        attempts=_e.c.attempts + 1,
        claimed_by=None,
        claimed_until=None,
    )
    for pg in (False, True)
}
_EXPIRED = {
    pg: update(_e)
    .where(one_of(_e.c.id, "ids", postgres=pg), _e.c.status == _PENDING)
    .values(status=EXPIRED, attempts=_e.c.attempts + 1, claimed_by=None, claimed_until=None)
    for pg in (False, True)
}
# Only while the lease is ours: if another node took the event over, its attempt decides.
_RETRY = (
    update(_e)
    .where(_e.c.id == bindparam("eid"), _e.c.claimed_by == bindparam("w"), _e.c.status == _PENDING)
    .values(
        next_attempt_at=bindparam("next_at", type_=_e.c.next_attempt_at.type),
        attempts=_e.c.attempts + 1,
        claimed_by=None,
        claimed_until=None,
    )
)


async def purge_finished(conn: AsyncConnection, before: datetime, limit: int) -> int:
    """Delete up to `limit` of the oldest delivered or expired events created before `before`,
    with their attempts; returns how many events went. Pending events are never deleted."""
    ids = [
        r[0]
        for r in await conn.execute(
            select(_e.c.id)
            .where(_e.c.created_at < before, _FINISHED)  # ix_callback_events_finished
            .order_by(_e.c.created_at)
            .limit(limit)
        )
    ]
    if ids:
        # Explicitly, not by ON DELETE CASCADE: SQLite enforces foreign keys only when asked.
        await conn.execute(delete(callback_attempts).where(callback_attempts.c.event_id.in_(ids)))
        await conn.execute(delete(_e).where(_e.c.id.in_(ids)))
    return len(ids)


async def replay(conn: AsyncConnection, event_id: str, window: timedelta) -> bool:
    """Send a delivered or expired event again with the same id (and body), as soon as possible.
    False when there is no such event or it is still pending (it will be sent anyway)."""
    ts = utcnow()
    result = await conn.execute(
        update(_e)
        .where(_e.c.id == event_id, _e.c.status != PENDING)
        .values(
            status=PENDING,
            next_attempt_at=ts,
            expires_at=ts + window,
            claimed_by=None,
            claimed_until=None,
            delivered_at=None,
        )
    )
    return result.rowcount == 1


# --- reads (CLI, console, tests) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    account_id: str
    application_id: str | None
    kind: str
    message_id: str | None
    ordering_key: str
    seq: int
    event_type: str
    url: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    created_at: datetime
    delivered_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    event_id: str
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    next_retry_at: datetime | None
    worker: str | None


_EVENT_COLS = (
    _e.c.id,
    _e.c.account_id,
    _e.c.application_id,
    _e.c.kind,
    _e.c.message_id,
    _e.c.ordering_key,
    _e.c.seq,
    _e.c.event_type,
    _e.c.url,
    _e.c.payload,
    _e.c.status,
    _e.c.attempts,
    _e.c.next_attempt_at,
    _e.c.claimed_by,
    _e.c.created_at,
    _e.c.delivered_at,
    _e.c.expires_at,
)


def _event(r) -> EventRow:  # type: ignore[no-untyped-def]
    return EventRow(
        *r[:12], _aware(r[12]), r[13], _aware(r[14]), r[15] and _aware(r[15]), _aware(r[16])
    )


async def list_events(
    conn: AsyncConnection,
    *,
    message_id: str | None = None,
    event_id: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[EventRow]:
    q = select(*_EVENT_COLS)
    if message_id is not None:
        q = q.where(_message_keys(message_id))
    if event_id is not None:
        q = q.where(_e.c.id == event_id)
    if account_id is not None:
        q = q.where(_e.c.account_id == account_id)
    if status is not None:
        q = q.where(_e.c.status == status)
    q = q.order_by(_e.c.created_at.desc(), _e.c.seq.desc()).limit(limit)
    rows = [_event(r) for r in await conn.execute(q)]
    rows.reverse()  # oldest first reads naturally
    return rows


async def get_event(conn: AsyncConnection, event_id: str) -> EventRow | None:
    rows = await list_events(conn, event_id=event_id, limit=1)
    return rows[0] if rows else None


async def attempts_for(
    conn: AsyncConnection, event_ids: Sequence[str]
) -> dict[str, list[AttemptRow]]:
    out: dict[str, list[AttemptRow]] = {i: [] for i in event_ids}
    if not event_ids:
        return out
    a = callback_attempts
    q = (
        select(
            a.c.event_id,
            a.c.at,
            a.c.status_code,
            a.c.latency_ms,
            a.c.error,
            a.c.next_retry_at,
            a.c.worker,
        )
        .where(a.c.event_id.in_(list(event_ids)))
        .order_by(a.c.at, a.c.id)
    )
    for r in await conn.execute(q):
        out[r[0]].append(
            AttemptRow(r[0], _aware(r[1]), r[2], r[3], r[4], r[5] and _aware(r[5]), r[6])
        )
    return out


async def pending_summary(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many events are pending, and when the oldest was created (the partial index)."""
    row = (
        await conn.execute(
            select(func.count(), func.min(_e.c.created_at)).where(_e.c.status == _PENDING)
        )
    ).one()
    return int(row[0]), _aware(row[1]) if row[1] is not None else None


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    q = select(_e.c.status, func.count()).group_by(_e.c.status)
    return {r[0]: r[1] for r in await conn.execute(q)}
