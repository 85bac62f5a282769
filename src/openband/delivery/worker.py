"""The delivery worker: claim outbox events in batches, POST them concurrently, record results.

Three cooperating parts, so that no one slow thing holds up the others:
- the claimer takes batches of due events (a lease each) while there is room in memory;
- one task per event sends it, holding a slot of its host (callback_per_host) and then a
  global slot (callback_concurrency): a dead endpoint ties up only its own host's slots;
- the recorder writes finished attempts in batches (one transaction per batch).

A host may hold at most QUEUE_FACTOR * callback_per_host claimed events; hosts at that share are
left out of the claim query, so a backlog for a dead endpoint cannot fill the claim window.
The lease covers the longest a claimed event can wait (QUEUE_FACTOR rounds of timeouts), so
another process never takes over an event that is still in this process's hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import Counter
from datetime import timedelta

from openband.config import Settings
from openband.core.clock import now
from openband.delivery import signing
from openband.delivery.http import AttemptResult, HttpClient
from openband.store import callbacks as repo
from openband.store.db import Database

log = logging.getLogger(__name__)

QUEUE_FACTOR = 8
FLUSH_DELAY = 0.005  # seconds the recorder waits to gather a batch
LEASE_MARGIN = 30.0


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        http: HttpClient | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self._own_http = http is None
        self.http = http or HttpClient.from_settings(settings)
        base = worker_id or settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"
        # Distinct per instance, so two workers in one process never share claims.
        self.id = f"{base}/d{secrets.token_hex(3)}"[:64]
        self.timeout = settings.callback_timeout_seconds
        self.concurrency = settings.callback_concurrency
        self.per_host = settings.callback_per_host
        self.batch = settings.callback_batch_size
        self.host_share = self.per_host * QUEUE_FACTOR
        self.max_claimed = max(self.concurrency * QUEUE_FACTOR, self.host_share)
        self.lease = timedelta(seconds=self.timeout * (QUEUE_FACTOR + 1) + LEASE_MARGIN)
        self.poll = settings.worker_poll_seconds
        # event id -> monotonic time after which it must not be sent (the lease is running out)
        self._claimed: dict[str, float] = {}
        self._host_claimed: Counter[str] = Counter()
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._slots: asyncio.Semaphore | None = None
        self._results: list[tuple[repo.Outcome, str]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._have_results = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.stats: Counter[str] = Counter()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._slots = asyncio.Semaphore(self.concurrency)
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="openband-delivery-claim"),
            asyncio.create_task(self._record_loop(), name="openband-delivery-record"),
        ]

    def wake(self) -> None:
        """Call after committing an enqueue so the event goes out without waiting for a poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, abandon unsent events (their claims are released), record the rest."""
        self._stopping = True
        self._wake.set()
        self._have_results.set()
        if self._tasks:
            await self._tasks[0]
        for task in list(self._sends):
            task.cancel()
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        if len(self._tasks) > 1:
            await self._tasks[1]
        self._tasks = []
        await self._flush()
        leftover = list(self._claimed)
        if leftover:
            with contextlib.suppress(Exception):
                async with self.db.begin() as conn:
                    await repo.release(conn, self.id, leftover)
            self._claimed.clear()
            self._host_claimed.clear()
        if self._own_http:
            await self.http.close()

    @property
    def in_flight(self) -> int:
        return len(self._claimed)

    # --- claiming -------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            try:
                full = await self._claim_once()
            except Exception:
                log.exception("callback claim failed")
                full = False
                await asyncio.sleep(min(1.0, self.poll * 5))
            if full:
                continue  # likely more due: claim again at once
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)

    async def _claim_once(self) -> bool:
        room = self.max_claimed - len(self._claimed)
        # Wait for a worthwhile batch unless idle: many tiny claims cost more than they bring.
        if room <= 0 or (self._claimed and room < min(self.batch, self.max_claimed // 4)):
            return False
        limit = min(self.batch, room)
        saturated = [h for h, n in self._host_claimed.items() if n >= self.host_share]
        async with self.db.begin() as conn:
            events = await repo.claim(
                conn,
                self.id,
                limit,
                self.lease,
                postgres=self.db.is_postgres,
                exclude_hosts=saturated,
            )
        if not events:
            return False
        deadline = time.monotonic() + self.lease.total_seconds() - self.timeout - LEASE_MARGIN / 2
        over: list[str] = []
        for ev in events:
            if self._host_claimed[ev.host] >= self.host_share:
                over.append(ev.id)  # beyond this host's share: give it back
                continue
            self._host_claimed[ev.host] += 1
            self._claimed[ev.id] = deadline
            task = asyncio.create_task(self._send(ev))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        if over:
            async with self.db.begin() as conn:
                await repo.release(conn, self.id, over)
        self.stats["claimed"] += len(events) - len(over)
        return len(events) == limit and not over

    # --- sending --------------------------------------------------------------------------------

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        sem = self._host_slots.get(host)
        if sem is None:
            sem = self._host_slots[host] = asyncio.Semaphore(self.per_host)
        return sem

    async def _send(self, ev: repo.ClaimedEvent) -> None:
        assert self._slots is not None
        async with self._host_slot(ev.host), self._slots:
            if time.monotonic() > self._claimed.get(ev.id, 0.0):
                # Our lease may lapse before an answer: leave it to whoever claims it next.
                self._done(ev.id, ev.host)
                self.stats["lease-skipped"] += 1
                return
            body = ev.payload.encode()
            headers = {signing.EVENT_ID_HEADER: ev.id}
            if ev.signing_secret:
                headers[signing.SIGNATURE_HEADER] = signing.sign(ev.signing_secret, body)
            auth = (ev.auth_user, ev.auth_password or "") if ev.auth_user is not None else None
            at = now()
            try:
                result = await self.http.post_json(
                    ev.url, body, auth=auth, headers=headers, timeout=self.timeout
                )
            except Exception as exc:  # post_json reports network errors; this is a bug guard
                log.exception("callback send crashed", extra={"event_id": ev.id})
                result = AttemptResult(None, 0.0, f"internal: {exc!r}"[:500])
        outcome = repo.Outcome(
            ev.id,
            at,
            result.status,
            result.latency_ms,
            result.error,
            result.ok,
            ev.attempts,
            ev.expires_at,
        )
        if not result.ok:
            log.info(
                "callback attempt failed",
                extra={"event_id": ev.id, "url": ev.url, "error": result.error},
            )
        self._results.append((outcome, ev.host))
        self._have_results.set()

    def _done(self, event_id: str, host: str) -> None:
        if self._claimed.pop(event_id, None) is not None:
            self._host_claimed[host] -= 1
            if self._host_claimed[host] <= 0:
                del self._host_claimed[host]
                self._host_slots.pop(host, None)

    # --- recording ------------------------------------------------------------------------------

    async def _record_loop(self) -> None:
        failures = 0
        while not self._stopping:
            await self._have_results.wait()
            if self._stopping:
                break
            if len(self._results) < self.batch:
                await asyncio.sleep(FLUSH_DELAY)
            if await self._flush():
                failures = 0
            else:
                # Keep the results and try again: a busy database (SQLite lock) is transient.
                failures += 1
                self._have_results.set()
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))

    async def _flush(self) -> bool:
        """Write the finished attempts; False (results kept for a retry) if the write failed."""
        self._have_results.clear()
        if not self._results:
            return True
        batch, self._results = self._results, []
        s = self.settings
        try:
            async with self.db.begin() as conn:
                await repo.record(
                    conn,
                    self.id,
                    [o for o, _ in batch],
                    retry_base=s.callback_retry_base_seconds,
                    retry_cap=s.callback_retry_max_seconds,
                )
        except Exception as exc:
            # Not lost either way: kept for the next flush, and if this process dies the leases
            # lapse and the events are sent again (at least once).
            log.warning("recording %d callback attempts failed: %s", len(batch), exc)
            self._results[:0] = batch
            self.stats["record-retries"] += 1
            return False
        ok = 0
        for outcome, host in batch:
            self._done(outcome.event_id, host)
            ok += outcome.ok
        self.stats["delivered"] += ok
        self.stats["failed"] += len(batch) - ok
        self._wake.set()  # successors in the same ordering key may now be due
        return True
