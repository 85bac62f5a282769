"""Inventory SQL: owned-number probes for searches, the imported inventory, bulk import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.engine import Engine, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.schema import inventory_numbers as inv
from openband.store.schema import phone_numbers

if TYPE_CHECKING:
    from openband.core.inventory import Search

_OWNED_CHUNK = 500  # bound parameters per probe (SQLite allows 32766; keep statements small)


async def owned_numbers(
    conn: AsyncConnection, prefixes: Sequence[str], exact: Sequence[str]
) -> set[str]:
    """Owned numbers under the given E.164 prefixes ('+1919555') or among `exact` numbers.

    Prefixes become primary-key range scans, so only the candidate exchanges are read.
    """
    owned: set[str] = set()
    tn = phone_numbers.c.tn
    exchange = tuple_(phone_numbers.c.npa, phone_numbers.c.nxx)
    for i in range(0, len(prefixes), _OWNED_CHUNK // 2):
        # One expanding IN over (npa, nxx): served by ix_phone_numbers_npa_nxx, and the statement
        # compiles once (building an OR of ranges per call cost more than the query).
        pairs = [(p[2:5], p[5:8]) for p in prefixes[i : i + _OWNED_CHUNK // 2]]
        owned.update((await conn.execute(select(tn).where(exchange.in_(pairs)))).scalars())
    for i in range(0, len(exact), _OWNED_CHUNK):
        chunk = list(exact[i : i + _OWNED_CHUNK])
        owned.update((await conn.execute(select(tn).where(tn.in_(chunk)))).scalars())
    return owned


# --- imported inventory --------------------------------------------------------------------------


async def has_imported(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(inv.c.tn).limit(1))).first() is not None


async def get_imported(conn: AsyncConnection, tn: str) -> Row | None:
    return (await conn.execute(select(inv).where(inv.c.tn == tn))).first()


async def search_imported(conn: AsyncConnection, q: Search) -> list[Row]:
    """Available imported numbers matching `q`, ordered along the index the filter uses."""
    from openband.core.inventory import TOLL_FREE_NPAS, vanity_digits

    c = inv.c
    where = []
    order: list = []
    if q.toll_free_vanity:
        d = vanity_digits(q.toll_free_vanity)[:7]
        where += [c.npa.in_(TOLL_FREE_NPAS), c.nxx == d[:3], c.line == d[3:]]
        order = [c.npa, c.nxx, c.line]
    elif q.toll_free_wildcard:
        where.append(c.npa.in_(q.toll_free_npas()))
        order = [c.npa, c.nxx, c.line]
    else:
        if q.npa_nxxx:
            x = q.npa_nxxx[6]
            where += [c.npa == q.npa_nxxx[:3], c.nxx == q.npa_nxxx[3:6]]
            where += [c.line >= x, c.line < chr(ord(x) + 1)]
        elif q.npa_nxx:
            where += [c.npa == q.npa_nxx[:3], c.nxx == q.npa_nxx[3:]]
        elif q.area_code:
            where.append(c.npa == q.area_code)
        if q.area_code or q.npa_nxx or q.npa_nxxx:
            order = [c.npa, c.nxx, c.line]
        if q.state:
            where.append(c.state == q.state)
        if q.rate_center:
            where.append(c.rate_center == q.rate_center)
            order = order or [c.state, c.rate_center]
        if q.city:
            where.append(c.city == q.city)
            order = order or [c.state, c.city]
        if q.lata:
            where.append(c.lata == q.lata)
            order = order or [c.lata]
        if q.zip:
            where.append(c.zip == q.zip)
            order = order or [c.zip]
        if q.state and not order:
            order = [c.state, c.rate_center]
        if q.local_vanity:
            digits = vanity_digits(q.local_vanity)
            pattern = f"%{digits}" if q.ends_in else f"%{digits}%"
            where += [c.toll_free.is_(False), (c.nxx + c.line).like(pattern)]
            order = order or [c.npa, c.nxx, c.line]
    owned = select(phone_numbers.c.tn).where(phone_numbers.c.tn == c.tn).exists()
    stmt = select(inv).where(*where, ~owned).order_by(*order).limit(q.quantity)
    return list((await conn.execute(stmt)).all())


async def imported_stats(conn: AsyncConnection) -> dict[str, int]:
    total = (await conn.execute(select(func.count()).select_from(inv))).scalar_one()
    toll_free = (
        await conn.execute(select(func.count()).select_from(inv).where(inv.c.toll_free.is_(True)))
    ).scalar_one()
    owned = (
        await conn.execute(
            select(func.count()).select_from(
                inv.join(phone_numbers, phone_numbers.c.tn == inv.c.tn)
            )
        )
    ).scalar_one()
    states = (await conn.execute(select(func.count(func.distinct(inv.c.state))))).scalar_one()
    return {
        "numbers": total, "toll_free": toll_free, "local": total - toll_free, "owned": owned,
        "available": total - owned, "states": states,
    }  # fmt: skip


async def clear_imported(conn: AsyncConnection) -> int:
    return (await conn.execute(inv.delete())).rowcount or 0


# --- bulk import (sync engine: one executemany per batch, no per-row round trips) ---------------

_COLUMNS = ("tn", "npa", "nxx", "line", "city", "state", "rate_center", "lata", "zip", "toll_free")


def bulk_upsert(engine: Engine, rows: list[dict[str, object]]) -> int:
    """Insert or refresh `rows` in one transaction; re-importing a row is harmless."""
    if engine.dialect.name != "sqlite":
        from sqlalchemy.dialects.postgresql import insert

        stmt = insert(inv).values({k: bindparam(k) for k in _COLUMNS})
        stmt = stmt.on_conflict_do_update(
            index_elements=[inv.c.tn],
            set_={k: getattr(stmt.excluded, k) for k in _COLUMNS if k != "tn"},
        )
        with engine.begin() as conn:
            conn.execute(stmt, rows)  # psycopg: batched multi-row VALUES
        return len(rows)
    # SQLite: the driver's executemany on plain tuples, skipping per-row parameter processing;
    # a larger page cache keeps the six index b-trees in memory across the batch.
    updates = ", ".join(f"{k}=excluded.{k}" for k in _COLUMNS if k != "tn")
    sql = (
        f"INSERT INTO inventory_numbers ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT (tn) DO UPDATE SET {updates}"
    )
    params = [tuple(r[k] for k in _COLUMNS) for r in rows]
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        conn.exec_driver_sql(sql, params)
    return len(rows)
