"""Calls, their history and their recordings (store side of core/voice).

Rows in, rows out: core/voice turns them into its typed values. A call's webhook settings are
stored as JSON with the passwords sealed by core before they get here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.schema import (
    applications,
    call_history,
    call_recordings,
    calls,
    phone_numbers,
    sip_peers,
)

_c = calls.c
# A literal, not a bound parameter: the partial index ix_calls_live only matches it so on SQLite.
_LIVE = _c.state != literal_column("'disconnected'")
_h = call_history.c
_r = call_recordings.c

LIVE = ("queued", "initiated", "answered")


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(calls.insert().values(**row))


async def get(conn: AsyncConnection, call_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(calls).where(_c.id == call_id))).mappings().first()
    return dict(row) if row else None


async def get_for_update(conn: AsyncConnection, call_id: str) -> dict[str, Any] | None:
    """The row, locked until the transaction ends on PostgreSQL (SQLite's one writer is)."""
    stmt = select(calls).where(_c.id == call_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def set_fields(conn: AsyncConnection, call_id: str, **values: Any) -> None:
    await conn.execute(update(calls).where(_c.id == call_id).values(**values))


async def live_count(conn: AsyncConnection, account_id: str) -> int:
    """The account's calls not yet ended (the concurrent-call limit)."""
    stmt = select(func.count()).where(_c.account_id == account_id, _LIVE)
    return int((await conn.execute(stmt)).scalar_one())


async def started_since(conn: AsyncConnection, account_id: str, since: datetime) -> int:
    stmt = select(func.count()).where(_c.account_id == account_id, _c.created_at >= since)
    return int((await conn.execute(stmt)).scalar_one())


async def renew_leases(
    conn: AsyncConnection, node: str, call_ids: Sequence[str], until: datetime
) -> int:
    """Extend the leases of the calls `node` runs, named: a node restarted under the same name
    does not keep alive the calls it lost (they are reaped when their lease passes)."""
    renewed = 0
    for i in range(0, len(call_ids), 500):
        res = await conn.execute(
            update(calls)
            .where(_c.id.in_(call_ids[i : i + 500]), _c.node == node, _LIVE)
            .values(lease_until=until)
        )
        renewed += res.rowcount or 0
    return renewed


async def orphaned(conn: AsyncConnection, at: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Live calls whose owner's lease has passed (the owner died)."""
    stmt = select(calls).where(_LIVE, _c.lease_until < at).order_by(_c.lease_until).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


@dataclass(frozen=True, slots=True)
class CallFilter:
    account_id: str
    to: str | None = None
    sender: str | None = None
    min_start: datetime | None = None
    max_start: datetime | None = None
    cause: str | None = None
    after: tuple[datetime, str] | None = None  # (created_at, id) of the previous page's last
    limit: int = 1000


async def search(conn: AsyncConnection, f: CallFilter) -> list[dict[str, Any]]:
    """Oldest first, (created_at, id) order, the page after `f.after`."""
    where = [_c.account_id == f.account_id]
    if f.to:
        where.append(_c.to_tn == f.to)
    if f.sender:
        where.append(_c.from_tn == f.sender)
    if f.min_start:
        where.append(_c.created_at >= f.min_start)
    if f.max_start:
        where.append(_c.created_at <= f.max_start)
    if f.cause:
        where.append(_c.disconnect_cause == f.cause)
    if f.after:
        at, cid = f.after
        where.append(or_(_c.created_at > at, and_(_c.created_at == at, _c.id > cid)))
    stmt = select(calls).where(*where).order_by(_c.created_at, _c.id).limit(f.limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


PURGE_BATCH = 1000


async def purge(conn: AsyncConnection, before: datetime, limit: int = PURGE_BATCH) -> list[str]:
    """Delete calls that ended before `before`, with their history: the ids deleted."""
    ids = [
        r[0]
        for r in await conn.execute(
            select(_c.id).where(_c.state == "disconnected", _c.end_time < before).limit(limit)
        )
    ]
    if ids:
        await conn.execute(delete(call_history).where(_h.call_id.in_(ids)))
        await conn.execute(delete(calls).where(_c.id.in_(ids)))
    return ids


# --- history ---------------------------------------------------------------------------------


async def add_history(
    conn: AsyncConnection, entries: list[tuple[str, datetime, str, dict[str, Any]]]
) -> None:
    """(call id, at, kind, detail) rows, in order."""
    if entries:
        await conn.execute(
            call_history.insert(),
            [{"call_id": c, "at": at, "kind": k, "detail": d} for c, at, k, d in entries],
        )


async def history(conn: AsyncConnection, call_id: str) -> list[dict[str, Any]]:
    stmt = select(_h.at, _h.kind, _h.detail).where(_h.call_id == call_id).order_by(_h.id)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


# --- recordings ------------------------------------------------------------------------------


async def insert_recording(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(call_recordings.insert().values(**row))


async def recording(
    conn: AsyncConnection, account_id: str, call_id: str, recording_id: str
) -> dict[str, Any] | None:
    stmt = select(call_recordings).where(
        _r.id == recording_id, _r.call_id == call_id, _r.account_id == account_id
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def recordings(
    conn: AsyncConnection,
    account_id: str,
    *,
    call_id: str | None = None,
    to: str | None = None,
    sender: str | None = None,
    min_start: datetime | None = None,
    max_start: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    where = [_r.account_id == account_id]
    if call_id:
        where.append(_r.call_id == call_id)
    if to:
        where.append(_r.to_tn == to)
    if sender:
        where.append(_r.from_tn == sender)
    if min_start:
        where.append(_r.start_time >= min_start)
    if max_start:
        where.append(_r.start_time <= max_start)
    stmt = select(call_recordings).where(*where).order_by(_r.start_time, _r.id).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def delete_recording(conn: AsyncConnection, recording_id: str) -> None:
    await conn.execute(delete(call_recordings).where(_r.id == recording_id))


async def clear_recording_media(conn: AsyncConnection, recording_id: str) -> None:
    await conn.execute(
        update(call_recordings).where(_r.id == recording_id).values(blob_ref=None, size=0)
    )


# --- routing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoiceRoute:
    """Who answers calls to a platform number: its account and its location's voice app."""

    tn: str
    account_id: str
    app_id: str | None
    service_type: str | None
    app_config: dict[str, Any] | None


async def route(conn: AsyncConnection, tn: str) -> VoiceRoute | None:
    p, a, n = sip_peers.c, applications.c, phone_numbers.c
    row = (
        await conn.execute(
            select(n.tn, n.account_id, p.voice_app_id, a.service_type, a.config)
            .select_from(
                phone_numbers.outerjoin(sip_peers, p.id == n.peer_id).outerjoin(
                    applications, a.id == p.voice_app_id
                )
            )
            .where(n.tn == tn)
        )
    ).first()
    if row is None:
        return None
    return VoiceRoute(row[0], row[1], row[2], row[3], row[4])
