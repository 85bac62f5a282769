"""Background workers that run durable jobs (order processing, disconnects, ...).

A handler runs inside the transaction that also deletes its job, so its effects and the job's
completion commit together: a crash in between leaves the job to be run again, never half done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store import jobs as repo
from openband.store.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[AsyncConnection, str], Awaitable[None]]

LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 8


class Workers:
    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 0.2,
        worker_id: str = "",
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.poll = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Called after a commit that enqueued a job, so it runs without waiting for the poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="openband-workers")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task:
            await self._task

    async def run_once(self, limit: int = 16) -> int:
        """Claim and run due jobs; returns how many were claimed."""
        async with self.db.connect() as conn:
            if not await repo.any_due(conn):
                return 0
        async with self.db.begin() as conn:
            claimed = await repo.claim(conn, self.id, limit, self.lease, self.db.is_postgres)
        for job in claimed:
            await self._run(job)
        return len(claimed)

    async def _run(self, job: repo.Job) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise RuntimeError(f"no handler for job kind {job.kind!r}")
            async with self.db.begin() as conn:
                if not await repo.finish(conn, job.id, self.id):
                    log.warning("job %s lease lost; skipping", job.id)
                    return
                await handler(conn, job.ref)
            log.info("job done", extra={"job_id": job.id, "kind": job.kind, "ref": job.ref})
        except Exception as exc:
            delay = min(300.0, 0.5 * 2**job.attempts) * (0.5 + random.random())
            give_up = job.attempts >= MAX_ATTEMPTS
            log.exception("job failed", extra={"job_id": job.id, "kind": job.kind, "ref": job.ref})
            async with self.db.begin() as conn:
                run_at = now() + (timedelta(days=3650) if give_up else timedelta(seconds=delay))
                await repo.retry_later(conn, job.id, run_at, repr(exc))

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                n = await self.run_once()
            except Exception:
                log.exception("worker loop error")
                n = 0
            if n:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)
