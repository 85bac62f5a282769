"""Inventory SQL: owned-number probes for searches, the imported inventory, bulk import."""

from __future__ import annotations

import logging
import sqlite3
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Select, and_, bindparam, create_engine, event, func, or_, select
from sqlalchemy.engine import Connection, Engine, Result, Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable

from openband.store.schema import inventory_numbers as inv
from openband.store.schema import phone_numbers

if TYPE_CHECKING:
    from openband.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

_OWNED_CHUNK = 500  # bound parameters per probe (SQLite allows 32766; keep statements small)


# --- searches on the event loop's thread (SQLite) ----------------------------------------------
#
# A read connection of Database.connect() runs every statement on aiosqlite's thread, through
# SQLAlchemy's greenlet adapter: ~4 thread hops per statement plus BEGIN and ROLLBACK, ~3 ms of a
# 4 ms q=1 search, more on a busy machine. The searches' statements are index lookups well under a
# millisecond, so on SQLite they run on the loop's own thread through a plain (sync) engine:
# no hops, no greenlets (~0.2 ms a statement instead of ~1 ms). Two guards keep the loop
# responsive: busy_timeout=0 (a reader that would wait for a lock fails at once) and a budget of
# SQLite VM steps per statement, enforced by the progress handler, that index-bounded searches
# stay far below and a scan of a large imported table exceeds. Either way the read is run again
# on Database.connect(): same answer, only slower.

_STEP_GRAIN = 1000  # VM instructions between progress-handler calls
# Measured (300k imported rows): an imported state search of 5000 numbers takes ~75 calls
# (~4 ms), an owned probe of a 5000-number answer ~45; scanning a large import for a vanity
# pattern takes ~10 instructions a row, so 500 calls stops it within ~5-25 ms.
INLINE_STEP_BUDGET = 500


class _Budget:
    """Progress-handler calls of the running inline statement (statements run one at a time)."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0

    def reset(self, *_args: object) -> None:
        self.calls = 0

    def exceeded(self) -> bool:
        self.calls += 1
        return self.calls > INLINE_STEP_BUDGET


class _InlineConnection:
    """The part of AsyncConnection the inventory's reads use (`await conn.execute`), over a sync
    Connection: rows come from the sqlite3 cursor directly, on the calling thread."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Executable, parameters: object = None) -> Result:  # type: ignore[type-arg]
        return self._conn.execute(statement, parameters)  # type: ignore[arg-type]


_inline_engines: weakref.WeakKeyDictionary[Database, Engine] = weakref.WeakKeyDictionary()


def _inline_engine(db: Database) -> Engine | None:
    """The loop-thread engine of `db`'s SQLite file (None for PostgreSQL and :memory:)."""
    engine = _inline_engines.get(db)
    if engine is not None or db.dialect != "sqlite":
        return engine
    if (db.urls.sync_url.database or ":memory:") == ":memory:":
        return None
    from openband.store.db import _install_sqlite_hooks

    budget = _Budget()

    def on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")  # never sleep on the loop: fall back
        dbapi_conn.set_progress_handler(budget.exceeded, _STEP_GRAIN)

    # No overflow limit: a checkout that waited would block the loop, and the connections held
    # (searches awaiting the exchange index at start) are only released by that loop.
    engine = create_engine(db.urls.sync_url, max_overflow=-1)
    _install_sqlite_hooks(engine)  # WAL pragmas; BEGIN (deferred) for readonly connections
    event.listen(engine, "connect", on_connect)
    # Rows are stepped while the result is read, so the count runs until the next statement.
    event.listen(engine, "before_cursor_execute", budget.reset)
    _inline_engines[db] = engine
    return engine


async def run_read(db: Database, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`await fn(conn)` on a read-only connection: on SQLite on the loop's thread, falling back
    to Database.connect() when SQLite is busy or a statement exceeds its step budget."""
    engine = _inline_engine(db)
    if engine is not None:
        try:
            with engine.connect() as sync_conn:
                sync_conn = sync_conn.execution_options(readonly=True)
                return await fn(_InlineConnection(sync_conn))  # type: ignore[arg-type]
        except OperationalError as exc:
            text = str(exc.orig).lower()
            if "interrupted" not in text and "locked" not in text and "busy" not in text:
                raise
            log.debug("inline read fell back to the threaded connection: %s", text)
    async with db.connect() as conn:
        return await fn(conn)


def _fetch(result: Result) -> list:  # type: ignore[type-arg]
    """All rows as the driver's tuples. SQLAlchemy's Row objects cost ~0.4 µs a row (2 ms of a
    5000-number answer); these columns need no result processing on either backend."""
    try:
        return result.cursor.fetchall()  # type: ignore[attr-defined, no-any-return]
    finally:
        result.close()


@lru_cache(maxsize=16)
def _owned_in_exchanges(n: int) -> Select:  # type: ignore[type-arg]
    """SELECT tn WHERE (npa = :a0 AND nxx = :b0) OR … for n exchanges, built and compiled once
    per n. Each term is a search of ix_phone_numbers_npa_nxx on SQLite and PostgreSQL alike;
    SQLite plans the `(npa, nxx) IN (VALUES …)` that tuple_().in_() renders as a scan of the
    whole table (100 ms at 500k numbers)."""
    c = phone_numbers.c
    terms = [and_(c.npa == bindparam(f"a{i}"), c.nxx == bindparam(f"b{i}")) for i in range(n)]
    return select(c.tn).where(or_(*terms))


_TN_IN = select(phone_numbers.c.tn).where(phone_numbers.c.tn.in_(bindparam("tns", expanding=True)))


async def owned_numbers(
    conn: AsyncConnection, prefixes: Sequence[str], exact: Sequence[str]
) -> set[str]:
    """Owned numbers under the given exchange prefixes ('+1919555') or among `exact` numbers."""
    owned: set[str] = set()
    step = _OWNED_CHUNK // 2
    for i in range(0, len(prefixes), step):
        chunk = prefixes[i : i + step]
        size = 1 << (len(chunk) - 1).bit_length()  # a power of two: few statement shapes
        params: dict[str, str] = {}
        for j in range(size):
            p = chunk[min(j, len(chunk) - 1)]  # padding repeats the last exchange: harmless
            params[f"a{j}"], params[f"b{j}"] = p[2:5], p[5:8]
        rows = _fetch(await conn.execute(_owned_in_exchanges(size), params))
        owned.update([r[0] for r in rows])
    for i in range(0, len(exact), _OWNED_CHUNK):
        chunk_tns = list(exact[i : i + _OWNED_CHUNK])
        owned.update([r[0] for r in _fetch(await conn.execute(_TN_IN, {"tns": chunk_tns}))])
    return owned


# --- imported inventory --------------------------------------------------------------------------


# core.inventory.NumberInfo's field order, so a fetched row is its values as they stand.
_ROW_COLUMNS = (
    inv.c.tn, inv.c.npa, inv.c.nxx, inv.c.line, inv.c.city, inv.c.state, inv.c.rate_center,
    inv.c.lata, inv.c.zip, inv.c.toll_free,
)  # fmt: skip


_ANY_IMPORTED = select(inv.c.tn).limit(1)  # built once: its cache key is computed once


async def has_imported(conn: AsyncConnection) -> bool:
    return (await conn.execute(_ANY_IMPORTED)).first() is not None


async def get_imported(conn: AsyncConnection, tn: str) -> Row | None:
    return (await conn.execute(select(*_ROW_COLUMNS).where(inv.c.tn == tn))).first()


@dataclass(frozen=True, slots=True)
class ImportedQuery:
    """A search of the imported inventory, every value its SQL compares already derived (the
    inventory's rules, such as keypad letters and toll-free wildcards, are core's). A field left
    None does not filter."""

    limit: int
    toll_free_npas: tuple[str, ...] | None = None  # npa among these; () matches nothing
    npa: str | None = None
    nxx: str | None = None
    line: str | None = None  # the whole line
    line_digit: str | None = None  # the line's first digit (an NPA-NXX-X search)
    state: str | None = None
    rate_center: str | None = None
    city: str | None = None
    lata: str | None = None
    zip: str | None = None
    vanity: str | None = None  # digits that NXX + line contain
    ends_in: bool = False  # with `vanity`: NXX + line end with them


def _imported_stmt(f: ImportedQuery, columns: Sequence) -> Select:  # type: ignore[type-arg]
    """Available imported numbers matching `f`, ordered along the index the filter uses."""
    c = inv.c
    where = []
    if f.toll_free_npas is not None:
        where.append(c.npa.in_(f.toll_free_npas))
    if f.npa:
        where.append(c.npa == f.npa)
    if f.nxx:
        where.append(c.nxx == f.nxx)
    if f.line:
        where.append(c.line == f.line)
    if f.line_digit:
        where += [c.line >= f.line_digit, c.line < chr(ord(f.line_digit) + 1)]
    # A number prefix is read along (npa, nxx, line); otherwise the first other filter's index.
    order: list = [c.npa, c.nxx, c.line] if f.toll_free_npas is not None or f.npa else []
    if f.state:
        where.append(c.state == f.state)
    if f.rate_center:
        where.append(c.rate_center == f.rate_center)
        order = order or [c.state, c.rate_center]
    if f.city:
        where.append(c.city == f.city)
        order = order or [c.state, c.city]
    if f.lata:
        where.append(c.lata == f.lata)
        order = order or [c.lata]
    if f.zip:
        where.append(c.zip == f.zip)
        order = order or [c.zip]
    if f.state and not order:
        order = [c.state, c.rate_center]
    if f.vanity:
        pattern = f"%{f.vanity}" if f.ends_in else f"%{f.vanity}%"
        where += [c.toll_free.is_(False), (c.nxx + c.line).like(pattern)]
        order = order or [c.npa, c.nxx, c.line]
    owned = select(phone_numbers.c.tn).where(phone_numbers.c.tn == c.tn).exists()
    return select(*columns).where(*where, ~owned).order_by(*order).limit(f.limit)


async def search_imported(conn: AsyncConnection, f: ImportedQuery) -> list[tuple]:  # type: ignore[type-arg]
    """Available imported numbers matching `f` (every column, in NumberInfo's order)."""
    return _fetch(await conn.execute(_imported_stmt(f, _ROW_COLUMNS)))


async def search_imported_numbers(conn: AsyncConnection, f: ImportedQuery) -> list[str]:
    """`search_imported`'s E.164 numbers only: the table row is not read column by column and
    no 10-field rows are built (a third of the time of a 5000-number answer)."""
    return [r[0] for r in _fetch(await conn.execute(_imported_stmt(f, (inv.c.tn,))))]


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
