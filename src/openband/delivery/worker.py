"""The delivery worker: claim outbox events in batches, POST them concurrently, record results.

Three cooperating parts, so that no one slow thing holds up the others:
- the claimer takes batches of due events (a lease each) while there is room in memory, and
  queues each on its host (scheme://host:port);
- senders: up to callback_per_host coroutines per host, callback_concurrency in all, each
  taking the next event of its host's queue until the queue is empty (a task per sender, not
  per event). A dead endpoint ties up only its own host's senders; when all senders are busy,
  hosts with work take turns (a sender hands its slot over after each event);
- the recorder writes finished attempts in batches (one transaction per batch).

A host may hold at most QUEUE_FACTOR * callback_per_host claimed events not yet sent; the claim
leaves out hosts at that share and takes no more of a host than its share allows, so a backlog
for a dead endpoint cannot fill the claim window. The lease covers the longest a claimed event
can wait (QUEUE_FACTOR rounds of timeouts), so another process never takes over an event that
is still in this process's hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections import Counter, deque
from datetime import timedelta
from typing import Protocol, Self

from openband import metrics
from openband.clock import now
from openband.config import Settings
from openband.delivery import signing
from openband.delivery.http import AttemptResult, HttpClient
from openband.sealing import Sealer, SealingError
from openband.store import callbacks as repo
from openband.store.db import Database

log = logging.getLogger(__name__)

QUEUE_FACTOR = 8
# Seconds the recorder waits to gather a batch: each transaction has a fixed cost, and a sent
# event waiting to be recorded no longer counts against its host's share.
FLUSH_DELAY = 0.02
LEASE_MARGIN = 30.0
# While every host we hold is at its share, how often to look for other hosts' due events: such
# a claim scans past the held hosts' whole backlog, so not on every wake.
PROBE_INTERVAL = 0.25
# The retention sweep: how often, and how many events per transaction (short ones: on SQLite
# every writer waits for the lock it holds).
PURGE_INTERVAL = 60.0
PURGE_BATCH = 2000


class GivesWay(Protocol):
    """A share of the process's time under load (core/priority.AcceptPriority): the worker's
    loops give way to a burst of API requests by it."""

    @property
    def busy(self) -> bool: ...

    def register(self) -> Self: ...

    def batch(self, normal: int) -> int: ...

    async def give_way(self, worked: float) -> None: ...


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        sealer: Sealer,
        http: HttpClient | None = None,
        worker_id: str | None = None,
        priority: GivesWay | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.sealer = sealer  # opens each event's password and signing secret to send it
        # Shared with the messaging engine: a burst of accepts comes first (core/priority).
        self.priority = priority.register() if priority is not None else None
        self._all_sent = asyncio.Event()
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
        # A host with less room than this is left out of claims: tiny top-ups cost a query each.
        self.chunk = max(1, min(self.batch, self.host_share) // 4)
        self.max_claimed = max(self.concurrency * QUEUE_FACTOR, self.host_share)
        self.lease = timedelta(seconds=self.timeout * (QUEUE_FACTOR + 1) + LEASE_MARGIN)
        self.poll = settings.worker_poll_seconds
        # event id -> monotonic time after which it must not be sent (the lease is running out)
        self._claimed: dict[str, float] = {}
        # host -> claimed events not yet sent (queued or in flight): what its share limits
        self._host_unsent: dict[str, int] = {}
        self._queues: dict[str, deque[repo.ClaimedEvent]] = {}  # host -> events to send
        self._host_senders: dict[str, int] = {}
        self._senders = 0
        self._waiting: dict[str, None] = {}  # hosts with events but no free sender slot, FIFO
        self._sends: set[asyncio.Task[None]] = set()
        self._crowded = False  # the last claim passed over events of hosts at their share
        self._probe_at = 0.0
        self._purge_at = time.monotonic() + PURGE_INTERVAL * random.random()  # nodes spread out
        self._results: list[repo.Outcome] = []
        self._wake = asyncio.Event()
        self._have_results = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.stats: Counter[str] = Counter()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
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
        self._queues.clear()
        self._waiting.clear()
        if len(self._tasks) > 1:
            await self._tasks[1]
        self._tasks = []
        while self._results and await self._flush():
            pass
        leftover = list(self._claimed)
        if leftover:
            with contextlib.suppress(Exception):
                async with self.db.begin() as conn:
                    await repo.release(conn, self.id, leftover)
            self._claimed.clear()
        self._host_unsent.clear()
        if self._own_http:
            await self.http.close()

    @property
    def in_flight(self) -> int:
        return len(self._claimed)

    # --- claiming -------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            started = time.monotonic()
            try:
                more = await self._claim_once()
            except Exception:
                log.exception("callback claim failed")
                more = False
                await asyncio.sleep(min(1.0, self.poll * 5))
            if self.priority is not None and self.priority.busy and self._host_unsent:
                # Accepts are arriving: send this batch, then pause for our share of the time
                # it took (wall time, so a slow receiver only makes the pause longer).
                self._all_sent.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_sent.wait(), timeout=1.0)
                await self.priority.give_way(time.monotonic() - started)
            if time.monotonic() >= self._purge_at:
                self._purge_at = time.monotonic() + PURGE_INTERVAL
                await self.purge()
            if more:
                await asyncio.sleep(0)  # let the senders run: inline SQLite never suspends
                continue  # likely more due: claim again at once
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)

    async def purge(self) -> int:
        """Delete finished events older than callback_retention_hours (with their attempts), in
        short transactions; returns how many. Errors are logged: the next sweep tries again."""
        before = now() - timedelta(hours=self.settings.callback_retention_hours)
        total = 0
        try:
            while not self._stopping:
                async with self.db.begin() as conn:
                    n = await repo.purge_finished(conn, before, PURGE_BATCH)
                total += n
                if n < PURGE_BATCH:
                    break
                await asyncio.sleep(0)
        except Exception:
            log.exception("callback retention sweep failed")
        if total:
            log.info("deleted %d finished callback events older than %s", total, before)
        self.stats["purged"] += total
        return total

    async def _claim_once(self) -> bool:
        room = self.max_claimed - len(self._claimed)
        # Wait for a worthwhile batch unless idle: many tiny claims cost more than they bring.
        if room <= 0 or (self._claimed and room < min(self.batch, self.max_claimed // 4)):
            return False
        share, chunk = self.host_share, self.chunk
        full: list[str] = []
        open_room = 0
        for host, n in self._host_unsent.items():
            if share - n < chunk:
                full.append(host)
            else:
                open_room += share - n
        batch = self.priority.batch(self.batch) if self.priority is not None else self.batch
        limit = min(batch, room)
        if self._crowded and self._host_unsent:
            if open_room:
                # The due backlog is mostly our hosts': read what they can take (and a chunk
                # for others), not rows we would pass over.
                limit = min(limit, open_room + chunk)
            else:
                mono = time.monotonic()
                if mono < self._probe_at:
                    return False
                self._probe_at = mono + max(self.poll, PROBE_INTERVAL)
        self.stats["claim-queries"] += 1
        async with self.db.begin() as conn:
            events, passed = await repo.claim_batch(
                conn,
                self.id,
                limit,
                self.lease,
                postgres=self.db.is_postgres,
                exclude_hosts=full,
                host_cap=share,
                held=self._host_unsent,
            )
        if passed:
            self._crowded = True
        elif not full:
            self._crowded = False
        if not events:
            return False
        deadline = time.monotonic() + self.lease.total_seconds() - self.timeout - LEASE_MARGIN / 2
        hosts: dict[str, None] = {}
        for ev in events:
            self._host_unsent[ev.host] = self._host_unsent.get(ev.host, 0) + 1
            self._claimed[ev.id] = deadline
            queue = self._queues.get(ev.host)
            if queue is None:
                queue = self._queues[ev.host] = deque()
            queue.append(ev)
            hosts[ev.host] = None
        for host in hosts:
            self._dispatch(host)
        self.stats["claimed"] += len(events)
        return len(events) == limit

    # --- sending --------------------------------------------------------------------------------

    def _dispatch(self, host: str) -> None:
        """Start senders for `host` up to its cap and the global one; else it waits its turn."""
        queue = self._queues.get(host)
        if not queue:
            return
        running = self._host_senders.get(host, 0)
        want = min(self.per_host, running + len(queue))
        while running < want and self._senders < self.concurrency:
            running += 1
            self._senders += 1
            task = asyncio.create_task(self._sender(host, queue))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        self._host_senders[host] = running
        if running < want:
            self._waiting[host] = None

    async def _sender(self, host: str, queue: deque[repo.ClaimedEvent]) -> None:
        try:
            while queue:
                await self._send(queue.popleft())
                if self._waiting:
                    break  # hand the slot to a waiting host; this one queues up again
        finally:
            self._senders -= 1
            left = self._host_senders[host] - 1
            if left:
                self._host_senders[host] = left
            else:
                del self._host_senders[host]
            if not self._stopping:
                if queue:
                    self._waiting[host] = None
                elif not left and self._queues.get(host) is queue:
                    del self._queues[host]
                while self._waiting and self._senders < self.concurrency:
                    nxt = next(iter(self._waiting))
                    del self._waiting[nxt]
                    self._dispatch(nxt)

    async def _send(self, ev: repo.ClaimedEvent) -> None:
        if time.monotonic() > self._claimed.get(ev.id, 0.0):
            # Our lease may lapse before an answer: leave it to whoever claims it next.
            self._claimed.pop(ev.id, None)
            self._sent(ev.host)
            self.stats["lease-skipped"] += 1
            return
        body = ev.payload.encode()
        headers = {signing.EVENT_ID_HEADER: ev.id}
        at = now()
        try:
            # Sealed in the row (legacy rows: plaintext, opened as it is).
            secret = self.sealer.open(ev.signing_secret) if ev.signing_secret else None
            password = self.sealer.open(ev.auth_password) if ev.auth_password else ""
        except SealingError as exc:
            # Never sent without its credentials: a failed attempt, retried as any other, so it
            # goes out once the node has the key again.
            log.error("callback %s not sent: %s", ev.id, exc)
            result = AttemptResult(None, 0.0, f"cannot open the stored secret: {exc}"[:500])
        else:
            if secret:
                headers[signing.SIGNATURE_HEADER] = signing.sign(secret, body)
            auth = (ev.auth_user, password) if ev.auth_user is not None else None
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
        self._results.append(outcome)
        self._have_results.set()
        self._sent(ev.host)

    def _sent(self, host: str) -> None:
        n = self._host_unsent[host] - 1
        if n > 0:
            self._host_unsent[host] = n
        else:
            del self._host_unsent[host]
            if not self._host_unsent:
                self._all_sent.set()
        if n == self.host_share - self.chunk:
            self._wake.set()  # the host can take a worthwhile batch again

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
        n = len(self._results)
        if self.priority is not None:
            n = self.priority.batch(n)  # short transactions while accepts wait for the lock
        batch, self._results = self._results[:n], self._results[n:]
        s = self.settings
        try:
            async with self.db.begin() as conn:
                await repo.record(
                    conn,
                    self.id,
                    batch,
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
        for outcome in batch:
            self._claimed.pop(outcome.event_id, None)
            ok += outcome.ok
        self.stats["record-batches"] += 1
        self.stats["delivered"] += ok
        self.stats["failed"] += len(batch) - ok
        metrics.CALLBACK_ATTEMPTS.labels("delivered").inc(ok)
        if len(batch) > ok:
            metrics.CALLBACK_ATTEMPTS.labels("failed").inc(len(batch) - ok)
        self._wake.set()  # successors in the same ordering key may now be due
        if self._results:
            self._have_results.set()
        return True
