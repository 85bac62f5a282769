"""The durable job table: enqueue in the caller's transaction, claim with a lease.

PostgreSQL claims with FOR UPDATE SKIP LOCKED so several nodes never take the same job; SQLite
has one writer at a time (BEGIN IMMEDIATE), which gives the same guarantee. A claim is a lease:
when a node dies, its jobs become claimable again once `claimed_until` passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store.schema import jobs


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    ref: str
    attempts: int


async def enqueue(
    conn: AsyncConnection, kind: str, ref: str, run_at: datetime | None = None
) -> None:
    ts = now()
    await conn.execute(
        jobs.insert().values(kind=kind, ref=ref, run_at=run_at or ts, attempts=0, created_at=ts)
    )


def _due(ts: datetime):  # type: ignore[no-untyped-def]
    return (
        jobs.c.run_at <= ts,
        or_(jobs.c.claimed_until.is_(None), jobs.c.claimed_until < ts),
    )


async def any_due(conn: AsyncConnection) -> bool:
    """A cheap read, so idle workers do not take the write lock just to find nothing."""
    return (await conn.execute(select(jobs.c.id).where(*_due(now())).limit(1))).first() is not None


async def claim(
    conn: AsyncConnection, worker: str, limit: int, lease: timedelta, postgres: bool
) -> list[Job]:
    ts = now()
    due = select(jobs.c.id).where(*_due(ts)).order_by(jobs.c.run_at).limit(limit)
    if postgres:
        due = due.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=ts + lease, attempts=jobs.c.attempts + 1)
        .returning(jobs.c.id, jobs.c.kind, jobs.c.ref, jobs.c.attempts)
    )
    return [Job(r.id, r.kind, r.ref, r.attempts) for r in result]


async def finish(conn: AsyncConnection, job_id: int, worker: str) -> bool:
    """Delete a job this worker still holds. False: the lease was lost to another node."""
    result = await conn.execute(
        delete(jobs).where(and_(jobs.c.id == job_id, jobs.c.claimed_by == worker))
    )
    return result.rowcount == 1


async def retry_later(conn: AsyncConnection, job_id: int, run_at: datetime, error: str) -> None:
    await conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(run_at=run_at, claimed_by=None, claimed_until=None, last_error=error[:2000])
    )


async def next_due(conn: AsyncConnection) -> datetime | None:
    return (await conn.execute(select(jobs.c.run_at).order_by(jobs.c.run_at).limit(1))).scalar()
