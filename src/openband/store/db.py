"""Engines for the two supported backends, and the schema migration on start.

Users write `sqlite:///path` or `postgresql://…`; we pick the drivers: aiosqlite / stdlib sqlite3
for SQLite, psycopg 3 (async and sync) for PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


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
    cur.close()


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    # Writers take the lock at BEGIN: a deferred transaction that upgrades to a write after
    # another writer committed fails at once with SQLITE_BUSY instead of waiting.
    if conn.get_execution_options().get("readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _install_sqlite_hooks(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


def make_sync_engine(url: str) -> Engine:
    urls = resolve_urls(url)
    engine = create_engine(urls.sync_url)
    if urls.dialect == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


class Database:
    """The async engine plus the few helpers every repository needs."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.urls = resolve_urls(url)
        self.dialect = self.urls.dialect
        kwargs: dict[str, object] = {}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.urls.async_url, **kwargs)
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine.sync_engine)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success."""
        async with self.engine.begin() as conn:
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
        await self.engine.dispose()


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
            command.upgrade(cfg, "heads")
    finally:
        engine.dispose()
