"""Engines for the two supported backends, and the schema migration on start.

Users write `sqlite:///path` or `postgresql://…`; we pick the drivers: aiosqlite / stdlib sqlite3
for SQLite, psycopg 3 (async and sync) for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]
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
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# JSON columns through orjson: the stdlib encoder was a visible share of the send pipeline.
JSON_CODEC: dict[str, object] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


class UnsupportedDatabase(ValueError):
    pass


@dataclass(frozen=True)
class DatabaseUrls:
    async_url: URL
    sync_url: URL
    dialect: str  # "sqlite" | "postgresql"


def resolve_urls(url: str) -> DatabaseUrls:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:":
            Path(db).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        return DatabaseUrls(
            parsed.set(drivername="sqlite+aiosqlite"), parsed.set(drivername="sqlite"), "sqlite"
        )
    if backend in ("postgresql", "postgres"):
        pg = parsed.set(drivername="postgresql+psycopg")
        return DatabaseUrls(pg, pg, "postgresql")
    raise UnsupportedDatabase(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # We emit BEGIN ourselves (see _sqlite_begin), so the driver must not.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets the CLI and several readers work beside a running server.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    # Reads through a shared mapping: a connection's page cache is dropped whenever another
    # connection (another worker process) commits, and re-reading through mmap copies nothing.
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    # Writers take the lock at BEGIN: a deferred transaction that upgrades to a write after
    # another writer committed fails at once with SQLITE_BUSY instead of waiting.
    if conn.get_execution_options().get("readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _pg_checkout(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
    """A pooled connection is alive if the server sent it nothing while it sat idle.

    Instead of pool_pre_ping's SELECT 1 (a round trip before every transaction, a fifth of a
    group commit's client CPU): PostgreSQL writes to an idle connection only to end it (an
    error before it closes on shutdown, restart or pg_terminate_backend, or EOF). A readable
    socket, or a connection psycopg already knows is broken, is thrown away and the pool hands
    out another (SQLAlchemy retries the checkout on DisconnectionError)."""
    conn = dbapi_conn.driver_connection
    if conn.closed or conn.broken:
        raise DisconnectionError("connection closed")
    idle = select.poll()  # poll, not select: a busy server's descriptors go past FD_SETSIZE
    idle.register(conn.pgconn.socket, select.POLLIN)
    if idle.poll(0):
        raise DisconnectionError("the server wrote to an idle connection (closing it)")


def _install_sqlite_hooks(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


# --- the writer engine: SQLite on the event loop's own thread ------------------------------------
#
# aiosqlite runs every statement on a thread of its own connection: one thread hop (a wake-up
# of each side, a self-pipe write) per statement. For the short write transactions of this
# process (serialised by the writer queue anyway) the hops cost more than the statements, and
# far more on a busy machine, where every wake-up waits for a CPU. The writer engine runs the
# same aiosqlite interface inline instead. It never sleeps in SQLite's busy handler: BEGIN
# IMMEDIATE (where a writer waits) is retried with asyncio sleeps while another process (the CLI,
# another server worker) writes, so the event loop keeps serving.

# How often the WAL is checkpointed off the event loop (see _inline_pragmas).
CHECKPOINT_SECONDS = 1.0
BUSY_RETRY_SECONDS = 10.0  # the same bound as PRAGMA busy_timeout on the other connections


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs each (future, function) at once."""

    def put_nowait(self, item: tuple[asyncio.Future[object] | None, object]) -> None:
        future, function = item
        try:
            result = function()  # type: ignore[operator]
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class _InlineSqlite(aiosqlite.Connection):
    """aiosqlite's Connection, executing on the calling (event loop) thread."""

    def __init__(self, connector, iter_chunk_size: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]  # SQLAlchemy's adapter uses it too

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._connect().__await__()

    async def _connect(self) -> _InlineSqlite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def stop(self) -> None:  # type: ignore[override]
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def _inline_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=0")  # never block the event loop: see _inline_begin
    # No checkpoint in a commit on the event loop (a WAL's worth of page copies and an fsync,
    # tens of ms at a time): Database._checkpoint does it on a thread instead.
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def _inline_begin(conn) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.util import await_only

    deadline = time.monotonic() + BUSY_RETRY_SECONDS
    delay = 0.001
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
        await_only(asyncio.sleep(delay))  # in SQLAlchemy's greenlet: the loop keeps running
        delay = min(delay * 2, 0.05)


def _inline_writer_engine(async_url: URL) -> AsyncEngine:
    path = str(Path(async_url.database or "").expanduser())

    async def creator() -> _InlineSqlite:
        conn = _InlineSqlite(lambda: sqlite3.connect(path, check_same_thread=False), 64)
        return await conn

    engine = create_async_engine(async_url, async_creator=creator, **JSON_CODEC)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "connect", _inline_pragmas)
    event.listen(engine.sync_engine, "begin", _inline_begin)
    return engine


def make_sync_engine(url: str) -> Engine:
    urls = resolve_urls(url)
    engine = create_engine(urls.sync_url, **JSON_CODEC)
    if urls.dialect == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


# How long a writer waits in this process's queue before falling back to SQLite's busy handler
# (the same bound as PRAGMA busy_timeout): a nested writer never deadlocks, it fails as before.
SQLITE_WRITE_WAIT = 10.0


class _WriterQueue:
    """This process's writers on one SQLite file, in line for its write lock.

    Across processes (`openband serve --workers N`), the queue's holder also takes an exclusive
    flock on `<db>.writers`: a writer of another process then waits in the kernel and wakes the
    moment the lock is free, where SQLite's own lock would have it retry with growing sleeps
    (the tail latency of several workers on one file). The CLI does not take it: SQLite's busy
    handling still serialises it with the server.
    """

    __slots__ = ("__weakref__", "fd", "lock", "owner")

    def __init__(self, key: str) -> None:
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[object] | None = None
        self.fd: int | None = None
        if fcntl is not None and key and key != ":memory:":
            try:
                self.fd = os.open(f"{key}.writers", os.O_RDWR | os.O_CREAT, 0o600)
                weakref.finalize(self, os.close, self.fd)
            except OSError:
                log.warning("no cross-process writer lock beside %s", key, exc_info=True)

    async def acquire_file(self) -> None:
        fd = self.fd
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        # Another process writes: wait in a thread. If we are cancelled meanwhile, the thread
        # still ends up holding the lock, so it is released as soon as it is taken.
        waiter = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            waiter.add_done_callback(lambda f: f.cancelled() or self.release_file())
            raise

    def release_file(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


# One queue per event loop and SQLite file, shared by every Database of this process on it.
_writer_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _WriterQueue]] = (
    weakref.WeakKeyDictionary()
)


def _writer_key(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path and path != ":memory:" else path


def _writer_queue(key: str) -> _WriterQueue:
    per_loop = _writer_queues.setdefault(asyncio.get_running_loop(), {})
    queue = per_loop.get(key)
    if queue is None:
        queue = per_loop[key] = _WriterQueue(key)
    return queue


class Database:
    """The async engine plus the few helpers every repository needs.

    SQLite has one writer at a time. Writers of this process (of every Database on the file)
    queue on an asyncio lock (FIFO, woken as soon as the previous commit ends) instead of
    sleeping in SQLite's busy handler, which polls with growing sleeps and let a send batch
    starve accepting commits. Readers (`connect`) never take it; other processes (the CLI,
    another server worker) still meet the busy handler.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.urls = resolve_urls(url)
        self.dialect = self.urls.dialect
        kwargs: dict[str, object] = {}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(self.urls.async_url, **kwargs, **JSON_CODEC)
        self.write_engine: AsyncEngine = self.engine
        if self.dialect == "postgresql":
            event.listen(self.engine.sync_engine.pool, "checkout", _pg_checkout)
        # Shares the pool; the flag is a client-side switch in psycopg (no round trip).
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine.sync_engine)
            if (self.urls.sync_url.database or ":memory:") != ":memory:":
                self.write_engine = _inline_writer_engine(self.urls.async_url)
        self._writer_key = _writer_key(self.urls.sync_url.database or "")
        self._checkpoint_at = 0.0
        self._checkpointing: asyncio.Future[None] | None = None

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success."""
        if self.dialect != "sqlite":
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._sqlite_writer(), self.write_engine.begin() as conn:
            yield conn
        if self.write_engine is not self.engine:
            self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        """After a commit: at most every CHECKPOINT_SECONDS, a PASSIVE WAL checkpoint on a thread
        (sqlite3 lets go of the GIL while it copies pages), never two at once."""
        mono = time.monotonic()
        if self._checkpointing is not None or mono < self._checkpoint_at:
            return
        self._checkpoint_at = mono + CHECKPOINT_SECONDS
        task = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
        self._checkpointing = task

        def done(t: asyncio.Future[None]) -> None:
            self._checkpointing = None
            if not t.cancelled() and t.exception() is not None:
                log.warning("WAL checkpoint failed: %s", t.exception())

        task.add_done_callback(done)

    def _checkpoint(self) -> None:
        path = self.urls.sync_url.database or ""
        with contextlib.closing(sqlite3.connect(path, timeout=0)) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[None]:
        queue = _writer_queue(self._writer_key)
        task = asyncio.current_task()
        if task is not None and task is queue.owner:
            yield  # nested in this task's own write: SQLite decides, as before
            return
        try:
            async with asyncio.timeout(SQLITE_WRITE_WAIT):
                await queue.lock.acquire()
        except TimeoutError:
            log.warning(
                "SQLite writer queued %.0f s in-process; trying without the queue",
                SQLITE_WRITE_WAIT,
            )
            yield
            return
        try:
            await queue.acquire_file()
        except BaseException:
            queue.lock.release()
            raise
        queue.owner = task
        try:
            yield
        finally:
            queue.owner = None
            queue.release_file()
            queue.lock.release()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """On PostgreSQL, a connection without a transaction: each statement commits by itself
        (no BEGIN and COMMIT round trips), for writes that are one statement (`insert_many`).
        On SQLite, `begin()`."""
        if self.dialect != "postgresql":
            async with self.begin() as conn:
                yield conn
            return
        async with self._autocommit_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only; its transaction is rolled back at exit."""
        async with self.engine.connect() as conn:
            await conn.execution_options(readonly=True)
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any driver error means "not ready"
            log.warning("database ping failed", exc_info=True)
            return False

    async def dispose(self) -> None:
        if self._checkpointing is not None:
            with contextlib.suppress(Exception):
                await self._checkpointing
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (Alembic), safe to run from several processes."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Serialise concurrent starts of several nodes on one database.
                conn.execute(text("SELECT pg_advisory_xact_lock(7210001)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


# --- bulk inserts on the hot paths ---------------------------------------------------------------


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
