"""Database backends for the suite: SQLite always, PostgreSQL when a server answers.

PostgreSQL comes from OPENBAND_TEST_POSTGRES_URL or the machine's 127.0.0.1:5432/test. Under
CI=true a missing PostgreSQL is an error, never a skip. Each test session works in a schema of
its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from openband.store.db import Database

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@functools.cache
def postgres_base_url() -> str | None:
    """The PostgreSQL URL to test against, or None to skip (never None under CI). Asked once per
    process."""
    url = os.environ.get("OPENBAND_TEST_POSTGRES_URL") or DEFAULT_PG
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            pass
    except Exception as exc:
        if os.environ.get("CI") == "true" or os.environ.get("OPENBAND_TEST_POSTGRES_URL"):
            raise RuntimeError(
                f"PostgreSQL is required for this run but {url} fails: {exc}"
            ) from exc
        return None
    return url


def create_pg_schema(base_url: str) -> tuple[str, str]:
    """Create a fresh schema; return (database URL pinned to it, schema name)."""
    import psycopg

    schema = f"obtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(base_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        # Media bytes are large objects, which belong to the database, not the schema: unlink
        # those the schema's rows name, or every run would leave them behind.
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
        named = [
            f"SELECT CAST({col} AS oid) FROM \"{schema}\".{table} WHERE {col} ~ '^[0-9]+$'"
            for table, col in (("media", "blob_ref"), ("blob_uploads", "ref"))
            if table in tables and (table != "media" or _has_column(conn, schema, table, col))
        ]
        if named:
            conn.execute(
                "SELECT lo_unlink(l.oid) FROM pg_largeobject_metadata l WHERE l.oid IN ("
                + " UNION ".join(named)
                + ")"
            )
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _has_column(conn, schema: str, table: str, column: str) -> bool:  # type: ignore[no-untyped-def]
    q = (
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = %s"
    )
    return conn.execute(q, (schema, table, column)).fetchone() is not None


def backends() -> list[str]:
    """The backends to run on: SQLite, and PostgreSQL when it answers (always under CI)."""
    return ["sqlite"] + (["postgres"] if postgres_base_url() else [])


@contextlib.contextmanager
def migrated_database(backend: str, workdir: Path, name: str = "ob.db") -> Iterator[str]:
    """A migrated, empty database of `backend` for one test or module: a SQLite file in
    `workdir`, or a PostgreSQL schema of its own, dropped afterwards. Yields its URL."""
    from openband.store.db import migrate

    if backend == "sqlite":
        url = f"sqlite:///{workdir / name}"
        migrate(url)
        yield url
        return
    base = postgres_base_url()
    assert base is not None, "PostgreSQL is not available"
    url, schema = create_pg_schema(base)
    try:
        migrate(url)
        yield url
    finally:
        drop_pg_schema(base, schema)


def run_with_db(url: str, check: Callable[[Database], Awaitable[None]], pool_size: int = 2) -> None:
    """Runs `check(db)` on a fresh Database of `url`, disposed after (store-level tests)."""

    async def go() -> None:
        db = Database(url, pool_size=pool_size)
        try:
            await check(db)
        finally:
            await db.dispose()

    asyncio.run(go())
