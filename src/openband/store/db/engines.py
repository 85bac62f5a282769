"""Which drivers a database URL gets, and the per-connection setup of each backend's engines.

Users write `sqlite:///path` or `postgresql://…`; we pick the drivers: aiosqlite / stdlib sqlite3
for SQLite, psycopg 3 (async and sync) for PostgreSQL.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError


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


def _create_private(path: Path) -> None:
    """The database file readable by its owner only (it holds hashes and sealed secrets), made
    before SQLite would make it 0644. SQLite gives its -wal and -shm files the database file's
    mode, and the writers' lock (writer_queue) is made 0600. The directory, when made here, is
    0700. An existing file keeps its mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def resolve_urls(url: str) -> DatabaseUrls:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            _create_private(Path(db).expanduser().resolve())
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


def make_sync_engine(url: str) -> Engine:
    urls = resolve_urls(url)
    engine = create_engine(urls.sync_url, **JSON_CODEC)
    if urls.dialect == "sqlite":
        _install_sqlite_hooks(engine)
    return engine
