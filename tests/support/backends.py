"""Database backends for the suite: SQLite always, PostgreSQL when a server answers.

PostgreSQL comes from OPENBAND_TEST_POSTGRES_URL or the machine's 127.0.0.1:5432/test. Under
CI=true a missing PostgreSQL is an error, never a skip. Each test session works in a schema of
its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable

from openband.store.db import Database

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str | None:
    """The PostgreSQL URL to test against, or None to skip (never None under CI)."""
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
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_with_db(url: str, check: Callable[[Database], Awaitable[None]], pool_size: int = 2) -> None:
    """Runs `check(db)` on a fresh Database of `url`, disposed after (store-level tests)."""

    async def go() -> None:
        db = Database(url, pool_size=pool_size)
        try:
            await check(db)
        finally:
            await db.dispose()

    asyncio.run(go())
