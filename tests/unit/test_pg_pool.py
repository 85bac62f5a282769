"""The PostgreSQL pool's checkout check (store/db._pg_checkout): healthy connections are reused
without a round trip, and connections the server ended while they sat idle are replaced before
anyone uses them, so no transaction fails after a PostgreSQL restart."""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Awaitable, Callable, Iterator

import psycopg
import pytest
from sqlalchemy import text

from openband.store.db import Database
from tests.support.backends import (
    create_pg_schema,
    drop_pg_schema,
    postgres_base_url,
    run_with_db,
)

_PG = postgres_base_url()
pytestmark = pytest.mark.skipif(_PG is None, reason="no PostgreSQL")


@pytest.fixture
def run_on_db() -> Iterator[Callable[[int, Callable[[Database], Awaitable[None]]], None]]:
    """Runs `check(db)` on a Database of `pool_size` in a fresh schema, disposed and dropped
    after."""
    assert _PG is not None
    url, schema = create_pg_schema(_PG)

    try:
        yield lambda pool_size, check: run_with_db(url, check, pool_size)
    finally:
        drop_pg_schema(_PG, schema)


async def _backend_pids(db: Database, n: int) -> list[int]:
    """Check out n connections at once (so the pool holds n) and return their server pids."""
    ready = asyncio.Barrier(n)

    async def one() -> int:
        async with db.begin() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await ready.wait()
            return int(pid)

    return list(await asyncio.gather(*(one() for _ in range(n))))


def test_idle_connections_ended_by_the_server_are_replaced_at_checkout(run_on_db) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database) -> None:
        before = await _backend_pids(db, 3)
        assert len(set(before)) == 3
        # Healthy connections come back as they were: no reconnect, no extra query.
        assert set(await _backend_pids(db, 3)) == set(before)
        with psycopg.connect(_PG, autocommit=True) as admin:
            for pid in before:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle sockets
        # Every transaction succeeds, each on a new connection.
        after = await _backend_pids(db, 3)
        assert not set(after) & set(before)
        async with db.begin() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1

    run_on_db(3, check)


def test_the_check_works_past_fd_setsize(run_on_db) -> None:  # type: ignore[no-untyped-def]
    """A server with many clients holds descriptors above 1024, where select() cannot look."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 1300  # the filler's 1100 descriptors, the pool's and the process's own
    # Raised for this test only when the soft limit (1024 on many systems) is too low; the hard
    # limit is the most an unprivileged process may ask for.
    raised = soft < need and (hard == resource.RLIM_INFINITY or hard >= need)
    if raised:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    elif soft < need:
        pytest.fail(f"the hard descriptor limit {hard} is below the {need} this test needs")

    async def check(db: Database) -> None:
        for _ in range(2):  # the second checkout runs the check on a pooled connection
            async with db.begin() as conn:
                raw = await conn.get_raw_connection()
                assert raw.driver_connection.pgconn.socket > 1024
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1

    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        run_on_db(2, check)
    finally:
        for fd in filler:
            os.close(fd)
        if raised:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
