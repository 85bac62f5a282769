"""The SQLite writer engine: aiosqlite's interface run inline on the event loop's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from openband.store.db.engines import JSON_CODEC, _sqlite_pragmas

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
