"""`Database`: the async engines of one database URL and how repositories get a connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from openband.store.db.engines import JSON_CODEC, _install_sqlite_hooks, _pg_checkout, resolve_urls
from openband.store.db.sqlite_writer import CHECKPOINT_SECONDS, _inline_writer_engine
from openband.store.db.writer_queue import _writer_key, _writer_turn

log = logging.getLogger(__name__)


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
        async with _writer_turn(self._writer_key), self.write_engine.begin() as conn:
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
