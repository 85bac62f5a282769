"""Queries on owned telephone numbers (phone_numbers): in service, per site/location, ownership.

Every change of who owns a number or where it is bumps store/versions.ROUTING in the same
transaction (the messaging hot path caches both)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store import versions
from openband.store.schema import phone_numbers


@dataclass(frozen=True)
class NumberRow:
    tn: str
    account_id: str
    site_id: int | None
    peer_id: int | None
    order_id: str | None
    status: str
    npa: str
    nxx: str
    city: str | None
    state: str | None
    rate_center: str | None
    lata: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NumberFilter:
    """Filters of /inserviceNumbers and /tns (all optional)."""

    account_id: str
    site_id: int | None = None
    peer_id: int | None = None
    npa: str | None = None
    npa_nxx: str | None = None
    npa_nxx_x: str | None = None
    lata: str | None = None
    state: str | None = None
    rate_center: str | None = None
    city: str | None = None
    tn_prefix: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _where(f: NumberFilter) -> list:  # type: ignore[type-arg]
    c = phone_numbers.c
    conds = [c.account_id == f.account_id]
    if f.site_id is not None:
        conds.append(c.site_id == f.site_id)
    if f.peer_id is not None:
        conds.append(c.peer_id == f.peer_id)
    if f.npa:
        conds.append(c.npa == f.npa)
    if f.npa_nxx:
        conds.append(and_(c.npa == f.npa_nxx[:3], c.nxx == f.npa_nxx[3:6]))
    if f.npa_nxx_x:
        conds.append(c.tn.like(f"+1{f.npa_nxx_x}%"))
    if f.tn_prefix:
        conds.append(c.tn.like(f"+1{f.tn_prefix}%"))
    if f.lata:
        conds.append(c.lata == f.lata)
    if f.state:
        conds.append(c.state == f.state.upper())
    if f.rate_center:
        conds.append(c.rate_center == f.rate_center.upper())
    if f.city:
        conds.append(func.upper(c.city) == f.city.upper())
    if f.start:
        conds.append(c.created_at >= f.start)
    if f.end:
        conds.append(c.created_at < f.end)
    return conds


async def search(
    conn: AsyncConnection, f: NumberFilter, *, offset: int = 0, limit: int = 500
) -> tuple[int, list[NumberRow]]:
    conds = _where(f)
    total = (await conn.execute(select(func.count()).where(*conds))).scalar_one()
    rows = (
        await conn.execute(
            select(phone_numbers)
            .where(*conds)
            .order_by(phone_numbers.c.tn)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return total, [NumberRow(**r._mapping) for r in rows]


async def get(conn: AsyncConnection, tn: str, account_id: str | None = None) -> NumberRow | None:
    q = select(phone_numbers).where(phone_numbers.c.tn == tn)
    if account_id is not None:
        q = q.where(phone_numbers.c.account_id == account_id)
    row = (await conn.execute(q)).first()
    return NumberRow(**row._mapping) if row else None


async def owned_among(conn: AsyncConnection, tns: Iterable[str]) -> dict[str, str]:
    """Which of `tns` are owned, and by which account."""
    tns = list(tns)
    out: dict[str, str] = {}
    for i in range(0, len(tns), 500):
        chunk = tns[i : i + 500]
        rows = await conn.execute(
            select(phone_numbers.c.tn, phone_numbers.c.account_id).where(
                phone_numbers.c.tn.in_(chunk)
            )
        )
        out.update({r.tn: r.account_id for r in rows})
    return out


async def insert_new(conn: AsyncConnection, rows: list[dict], dialect: str) -> list[str]:
    """Insert numbers that nobody owns yet; returns the ones this call got (others lost a race)."""
    if not rows:
        return []
    ts = now()
    for r in rows:
        r.setdefault("created_at", ts)
        r.setdefault("updated_at", ts)
        r.setdefault("status", "Inservice")
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(phone_numbers)
    got: list[str] = []
    # RETURNING with ON CONFLICT DO NOTHING reports only the rows actually inserted.
    for i in range(0, len(rows), 500):
        result = await conn.execute(
            ins.on_conflict_do_nothing(index_elements=["tn"]).returning(phone_numbers.c.tn),
            rows[i : i + 500],
        )
        got.extend(r.tn for r in result)
    if got:
        await versions.bump(conn)  # a number's owner changed: every node's caches drop it
    return got


async def release(conn: AsyncConnection, account_id: str, tns: list[str]) -> list[str]:
    """Remove numbers from an account (back to the inventory); returns those removed."""
    removed: list[str] = []
    for i in range(0, len(tns), 500):
        chunk = tns[i : i + 500]
        result = await conn.execute(
            delete(phone_numbers)
            .where(phone_numbers.c.account_id == account_id, phone_numbers.c.tn.in_(chunk))
            .returning(phone_numbers.c.tn)
        )
        removed.extend(r.tn for r in result)
    if removed:
        await versions.bump(conn)
    return removed


async def move_to_peer(
    conn: AsyncConnection, account_id: str, tns: list[str], site_id: int, peer_id: int
) -> int:
    result = await conn.execute(
        update(phone_numbers)
        .where(phone_numbers.c.account_id == account_id, phone_numbers.c.tn.in_(tns))
        .values(site_id=site_id, peer_id=peer_id, updated_at=now())
    )
    if result.rowcount:
        await versions.bump(conn)
    return result.rowcount


async def totals(conn: AsyncConnection, account_id: str) -> int:
    return (
        await conn.execute(select(func.count()).where(phone_numbers.c.account_id == account_id))
    ).scalar_one()
