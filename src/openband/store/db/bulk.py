"""Bulk inserts on the hot paths (the group commit, the send pump), past SQLAlchemy's per-row
work where the rows allow it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    any_,
    bindparam,
)
from sqlalchemy.ext.asyncio import AsyncConnection


def one_of(column: ColumnElement[Any], name: str, *, postgres: bool) -> ColumnElement[bool]:
    """`column IN :name`, a list bound at execution. On PostgreSQL `column = ANY(:name)` with one
    array parameter: the statement's text is the same for every list length, so psycopg parses
    it once and the server keeps it prepared, where an expanding IN renders a parameter per
    element that SQLAlchemy substitutes and psycopg re-parses on every call (a tenth of a
    delivery process's CPU with 100-event batches)."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


async def insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows: on SQLite straight to the driver, on PostgreSQL as one JSON parameter
    (`_pg_insert_many`), otherwise (rows that leave out columns) SQLAlchemy's executemany."""
    await insert_many(conn, [(table, rows)])


async def insert_many(
    conn: AsyncConnection, parts: list[tuple[Table, list[dict[str, Any]]]]
) -> None:
    """Insert rows into several tables. On PostgreSQL the parts go in one statement (each a
    data-modifying CTE), so they are atomic even on an autocommit connection
    (`Database.autocommit`): one round trip for a whole group commit. Elsewhere they go one
    table after another, inside the caller's transaction."""
    parts = [(t, rows) for t, rows in parts if rows]
    if not parts:
        return
    if conn.dialect.name == "postgresql" and await _pg_insert_many(conn, parts):
        return
    for table, rows in parts:
        if conn.dialect.name == "sqlite" and await _sqlite_insert_many(conn, table, rows):
            continue
        await conn.execute(table.insert(), rows)


Converters = tuple[Callable[[Any], Any] | None, ...]


def _converters(
    table: Table,
    keys: tuple[str, ...],
    *,
    to_datetime: Callable[[Any], Any] | None,
    to_json: Callable[[Any], Any] | None,
) -> Converters | None:
    """Per column, what turns a row's value into the driver's, for rows that set exactly `keys`;
    None when a column's type is not one of ours or a column left out has a default."""
    convert: list[Callable[[Any], Any] | None] = []
    for k in keys:
        col = table.c[k]
        if isinstance(col.type, DateTime):
            convert.append(to_datetime)
        elif isinstance(col.type, JSON):
            convert.append(to_json)
        elif isinstance(col.type, String | Integer | Float):
            convert.append(None)
        else:
            return None
    if any(c.name not in keys and c.default is not None for c in table.c):
        return None
    return tuple(convert)


def _same_keys(rows: list[dict[str, Any]]) -> tuple[str, ...] | None:
    keys = tuple(rows[0])
    return None if any(tuple(r) != keys for r in rows) else keys


def _converted(rows: list[dict[str, Any]], converters: Converters) -> list[tuple[Any, ...]]:
    """Each row's values in column order, converted where the column needs it."""
    todo = [(i, f) for i, f in enumerate(converters) if f is not None]
    out = []
    for r in rows:
        values = list(r.values())
        for i, f in todo:
            values[i] = f(values[i])
        out.append(tuple(values))  # SQLAlchemy takes tuples only
    return out


# A message's rows carry one instant several times (created, updated, due): format it once.
_SQLITE_DATETIMES: dict[datetime, str] = {}


def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format (fields as given, microseconds always).
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC:
        return value.isoformat(" ", "microseconds")[:26]  # equal instants, other fields
    got = _SQLITE_DATETIMES.get(value)
    if got is None:
        got = value.isoformat(" ", "microseconds")[:26]  # the UTC offset cut off
        if len(_SQLITE_DATETIMES) >= 1024:
            _SQLITE_DATETIMES.clear()
        _SQLITE_DATETIMES[value] = got
    return got


def _sqlite_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


Plan = tuple[str, Converters]
_PLANS: dict[tuple[str, str, tuple[str, ...]], Plan | None] = {}


def _plan(
    dialect: str,
    table: Table,
    keys: tuple[str, ...],
    statement: Callable[[str, str, int], str],
    **convert: Any,
) -> Plan | None:
    """The statement and converters for rows that set exactly `keys`, built once per table and
    key set; None when such rows must go through SQLAlchemy. statement(table, columns, n)."""
    key = (dialect, table.name, keys)
    if key not in _PLANS:
        converters = _converters(table, keys, **convert)
        names = ", ".join(f'"{k}"' for k in keys)
        sql = statement(table.name, names, len(keys))
        _PLANS[key] = None if converters is None else (sql, converters)
    return _PLANS[key]


def _sqlite_insert(table: str, names: str, n: int) -> str:
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * n)})'


async def _sqlite_insert_many(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> bool:
    """The group commit's inserts on SQLite, straight to the driver: SQLAlchemy's per-row bind
    processing (DATETIME formatting above all) was a fifth of the accept path's CPU. Rows must
    name every column they set, the same ones in every row; otherwise False (use SQLAlchemy)."""
    keys = _same_keys(rows)
    plan = keys and _plan(
        "sqlite", table, keys, _sqlite_insert, to_datetime=_sqlite_datetime, to_json=_sqlite_json
    )
    if not plan:
        return False
    await conn.exec_driver_sql(plan[0], _converted(rows, plan[1]))
    return True


def _pg_recordset(table: str, names: str, _n: int) -> str:
    return (
        f'INSERT INTO "{table}" ({names}) SELECT {names} '
        f'FROM json_populate_recordset(NULL::"{table}", %s::json)'
    )


# Naive datetimes are UTC here (SQLite hands them back so); say so, or PostgreSQL would read
# them in the session's time zone.
_PG_ROWS_JSON = orjson.OPT_NAIVE_UTC
_PG_STATEMENTS: dict[tuple[str, ...], str] = {}


async def _pg_insert_many(
    conn: AsyncConnection, parts: list[tuple[Table, list[dict[str, Any]]]]
) -> bool:
    """The hot paths' inserts on PostgreSQL: each table's rows as one JSON array parameter,
    unpacked by json_populate_recordset, every table in one statement. Against COPY (two round
    trips per table, and psycopg formatting each value in Python) a group commit of 20 messages
    took a third of the client CPU and half the time, for the same server CPU (measured in
    docs/benchmarks.md). Rows must name every column they set, the same ones in every row, and
    only columns of our plain types; otherwise False (use SQLAlchemy)."""
    sqls: list[str] = []
    params: list[str] = []
    for table, rows in parts:
        keys = _same_keys(rows)
        plan = keys and _plan(
            "postgresql", table, keys, _pg_recordset, to_datetime=None, to_json=None
        )
        if not plan:
            return False
        sqls.append(plan[0])
        params.append(orjson.dumps(rows, option=_PG_ROWS_JSON).decode())
    key = tuple(sqls)
    sql = _PG_STATEMENTS.get(key)
    if sql is None:
        ctes = ", ".join(f"i{i} AS ({q})" for i, q in enumerate(sqls[:-1]))
        sql = f"WITH {ctes} {sqls[-1]}" if ctes else sqls[-1]
        if len(_PG_STATEMENTS) < 256:
            _PG_STATEMENTS[key] = sql
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    async with driver.cursor() as cur:
        await cur.execute(sql, params)
    return True
