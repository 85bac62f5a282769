"""Queries on orders (new-number orders and disconnects), their numbers and their history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store.schema import order_history, order_tns, orders


@dataclass(frozen=True)
class OrderRow:
    id: str
    account_id: str
    order_type: str
    status: str
    customer_order_id: str | None
    name: str | None
    site_id: int | None
    peer_id: int | None
    created_by_user: str | None
    request: dict
    completed_quantity: int
    failed_quantity: int
    summary: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class OrderTn:
    tn: str
    status: str
    error_code: int | None
    error_description: str | None


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    note: str
    author: str
    status: str


async def insert(conn: AsyncConnection, **values: object) -> None:
    ts = now()
    await conn.execute(orders.insert().values(created_at=ts, updated_at=ts, **values))


async def get(
    conn: AsyncConnection, account_id: str, order_id: str, order_type: str, *, lock: bool = False
) -> OrderRow | None:
    q = select(orders).where(
        orders.c.id == order_id,
        orders.c.account_id == account_id,
        orders.c.order_type == order_type,
    )
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return OrderRow(**row._mapping) if row else None


async def get_any(conn: AsyncConnection, order_id: str, *, lock: bool = False) -> OrderRow | None:
    q = select(orders).where(orders.c.id == order_id)
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return OrderRow(**row._mapping) if row else None


@dataclass(frozen=True)
class OrderFilter:
    """What an order list may be narrowed by (all optional)."""

    status: str | None = None
    customer_order_id: str | None = None
    user: str | None = None
    start: datetime | None = None  # created at or after
    end: datetime | None = None  # created before


async def list_(
    conn: AsyncConnection,
    account_id: str,
    order_type: str,
    f: OrderFilter = OrderFilter(),
    *,
    after_id: str | None = None,
    limit: int = 300,
) -> tuple[int, list[OrderRow]]:
    c = orders.c
    conds = [c.account_id == account_id, c.order_type == order_type]
    if f.status:
        conds.append(c.status == f.status.upper())
    if f.customer_order_id:
        conds.append(c.customer_order_id == f.customer_order_id)
    if f.user:
        conds.append(c.created_by_user == f.user)
    if f.start:
        conds.append(c.created_at >= f.start)
    if f.end:
        conds.append(c.created_at < f.end)
    total = (await conn.execute(select(func.count()).where(*conds))).scalar_one()
    q = select(orders).where(*conds).order_by(c.created_at, c.id)
    if after_id:
        anchor = (await conn.execute(select(c.created_at).where(c.id == after_id, *conds))).scalar()
        if anchor is not None:
            q = q.where((c.created_at > anchor) | ((c.created_at == anchor) & (c.id >= after_id)))
    rows = (await conn.execute(q.limit(limit))).all()
    return total, [OrderRow(**r._mapping) for r in rows]


async def finish(conn: AsyncConnection, order_id: str, **values: object) -> None:
    await conn.execute(
        update(orders).where(orders.c.id == order_id).values(updated_at=now(), **values)
    )


async def add_tns(conn: AsyncConnection, order_id: str, rows: list[OrderTn]) -> None:
    if rows:
        await conn.execute(
            order_tns.insert(),
            [
                {
                    "order_id": order_id,
                    "tn": r.tn,
                    "status": r.status,
                    "error_code": r.error_code,
                    "error_description": r.error_description,
                }
                for r in rows
            ],
        )


async def tns(conn: AsyncConnection, order_id: str) -> list[OrderTn]:
    rows = await conn.execute(
        select(order_tns).where(order_tns.c.order_id == order_id).order_by(order_tns.c.tn)
    )
    return [OrderTn(r.tn, r.status, r.error_code, r.error_description) for r in rows]


async def tn_counts(conn: AsyncConnection, order_ids: list[str]) -> dict[str, int]:
    if not order_ids:
        return {}
    rows = await conn.execute(
        select(order_tns.c.order_id, func.count())
        .where(order_tns.c.order_id.in_(order_ids), order_tns.c.status == "completed")
        .group_by(order_tns.c.order_id)
    )
    return {r[0]: r[1] for r in rows}


async def add_history(
    conn: AsyncConnection, order_id: str, note: str, status: str, author: str = "System"
) -> None:
    await conn.execute(
        order_history.insert().values(
            order_id=order_id, at=now(), note=note, status=status, author=author
        )
    )


async def history(conn: AsyncConnection, order_id: str) -> list[HistoryRow]:
    rows = await conn.execute(
        select(order_history)
        .where(order_history.c.order_id == order_id)
        .order_by(order_history.c.at, order_history.c.id)
    )
    return [HistoryRow(r.at, r.note, r.author, r.status) for r in rows]
