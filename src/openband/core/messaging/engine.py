"""The messaging engine of one process: the accept path, the group committer, the send pump and
the media sweep (see the package docstring for the path of one message)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from openband import metrics
from openband.clock import now
from openband.core import ratelimit
from openband.core.cache import Generation, TtlCache
from openband.core.messaging.codes import (
    E_EXPIRED,
    E_MEDIA_UNAVAILABLE,
    E_UNKNOWN,
    describe_error,
)
from openband.core.messaging.listing import ListQuery
from openband.core.messaging.media import MediaLibrary
from openband.core.messaging.model import CallbackFormat, Message, SendRequest
from openband.core.messaging.sink import (
    LEGACY_TIMER_JOBS,
    TIMER_JOB,
    MessagingSink,
    moved_keys,
)
from openband.core.messaging.validation import (
    QueueFull,
    check_request,
    check_sender,
    new_message_id,
    segment_count,
    segments_of,
)
from openband.core.priority import AcceptPriority
from openband.delivery.fetch import Fetcher, FetchError
from openband.network import segments
from openband.network.messaging import MessagingCarrier, OutboundMessage, StatusReport
from openband.store import media as media_repo
from openband.store import messages as repo
from openband.store.blobs import BlobStore, open_store
from openband.store.db import Transaction

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.core.jobs import Workers
    from openband.sealing import Sealer
    from openband.store.db import Database

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Pending:
    account_id: str
    limits: ratelimit.Limits
    sender: str
    segments: int
    message_row: dict[str, Any]
    recipient_rows: list[dict[str, Any]]
    future: asyncio.Future[None] = field(repr=False)


class Messaging:
    """The messaging engine of one process: accept path, committer, send pump, media sweep."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        callbacks: CallbackFormat,
        priority: AcceptPriority,
        sealer: Sealer,
        carrier: MessagingCarrier | None = None,
        fetcher: Fetcher | None = None,
        wake_delivery: Callable[[], None] = lambda: None,
        blobs: BlobStore | None = None,
        routing: Generation | None = None,
    ) -> None:
        """`callbacks` renders callback bodies (the API family's); `priority` is shared with
        the delivery worker: both give way to a burst of accepts. Without a carrier, messages
        wait queued; without a fetcher, external media URLs go to the carrier unchecked.
        `routing` empties the caches of numbers, locations and applications when any node
        changes one (store/versions.ROUTING); without it they live out their time."""
        self.settings = settings
        self.db = db
        self.carrier = carrier
        self.fetcher = fetcher
        self.wake_delivery = wake_delivery
        # Media bytes: `blobs` (wiring's), else the database's default store (store/blobs.py).
        self.media = MediaLibrary(settings, db, blobs or open_store(db, settings.media_dir))
        self.sink = MessagingSink(
            settings, db.dialect, callbacks, self.media, sealer=sealer, routing=routing
        )
        ttl = settings.messaging_cache_seconds
        self._senders = TtlCache(ttl, generation=routing)
        self._limits = TtlCache(ttl, generation=routing)
        self._queue: asyncio.Queue[_Pending] | None = None
        self._committers: list[asyncio.Task[None]] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._pump_wake = asyncio.Event()
        self._stopping = False
        self.batch_max = settings.messaging_commit_batch
        self.commit_concurrency = settings.messaging_commit_concurrency if db.is_postgres else 1
        self.send_batch = settings.messaging_send_batch
        self.lease = timedelta(seconds=settings.lease_seconds)
        # SQLite has one writer: Database.begin queues this process's writers (committer, pump,
        # delivery) on an asyncio lock, and the pump's transactions stay short so an accept
        # never waits long behind a send batch.
        if not db.is_postgres:
            self.send_batch = min(self.send_batch, 250)
        self.stats: dict[str, int] = {"commits": 0, "accepted": 0, "sent": 0}
        self.priority = priority.register()
        self._last_limit = self.send_batch

    # --- lifecycle ---

    def register_jobs(self, workers: Workers) -> None:
        """The carrier's durable timers (network/messaging.CarrierSink.later) run as jobs."""
        carrier = self.carrier
        if carrier is None:
            return

        async def timer(tx: Transaction, ref: str) -> None:
            await self.sink.run_timer(carrier, tx, ref)

        for kind in (TIMER_JOB, *LEGACY_TIMER_JOBS):
            workers.register(kind, timer)

    def start_pump(self) -> None:
        self._stopping = False
        self._pump_task = asyncio.create_task(self._pump_loop(), name="openband-messaging-pump")

    async def stop(self) -> None:
        self._stopping = True
        self._pump_wake.set()
        if self._pump_task is not None:
            await self._pump_task
            self._pump_task = None
        # Let in-flight accepts finish: their callers are waiting for a commit.
        if self._queue is not None:
            while not self._queue.empty():
                await asyncio.sleep(0.01)
        for t in self._committers:
            t.cancel()
        for t in self._committers:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._committers = []
        self._queue = None

    def _ensure_committers(self) -> asyncio.Queue[_Pending]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._committers = [
                asyncio.create_task(self._commit_loop(), name=f"openband-msg-commit-{i}")
                for i in range(self.commit_concurrency)
            ]
        return self._queue

    def clear_caches(self) -> None:
        self._senders.clear()
        self._limits.clear()

    # --- accept ---

    async def _sender(self, account_id: str, tn: str) -> repo.SenderRow | None:
        async def load() -> repo.SenderRow | None:
            async with self.db.connect() as conn:
                return await repo.sender(conn, account_id, tn)

        return await self._senders.get_or_load((account_id, tn), load)

    async def _account_limits(self, account_id: str) -> ratelimit.Limits:
        async def load() -> ratelimit.Limits:
            async with self.db.connect() as conn:
                return ratelimit.Limits.from_json(await repo.account_limits(conn, account_id))

        return await self._limits.get_or_load(account_id, load)

    async def accept(
        self, account_id: str, req: SendRequest, errors: Sequence[tuple[str, str]] = ()
    ) -> Message:
        """Validate and durably queue one create request (`errors`: those the family found in
        the wire's types); returns the message once it is committed."""
        self.priority.touch()
        at = now()
        draft = check_request(req, at, errors)
        check_sender(draft, await self._sender(account_id, draft.sender), account_id)
        limits = await self._account_limits(account_id)
        count = segment_count(draft, segments_of(draft))
        message = Message(
            id=new_message_id(),
            account_id=account_id,
            application_id=draft.application_id,
            direction="out",
            owner=draft.sender,
            sender=draft.sender,
            to=draft.to,
            text=draft.text,
            media=draft.media,
            tag=draft.tag,
            priority=draft.priority,
            expiration=draft.expiration,
            segment_count=count,
            message_type=draft.message_type,
            time=at,
        )
        recipient_rows = [
            repo.recipient_values(message, tn, status="QUEUED", send_at=at) for tn in draft.to
        ]
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ensure_committers().put_nowait(
            _Pending(
                account_id,
                limits,
                draft.sender,
                count,
                repo.message_values(message),
                recipient_rows,
                fut,
            )
        )
        await fut  # resolved after the commit: accepted means durable
        return message

    async def _commit_loop(self) -> None:
        assert self._queue is not None
        q = self._queue
        while True:
            first = await q.get()
            batch = [first]
            while len(batch) < self.batch_max and not q.empty():
                batch.append(q.get_nowait())
            await self._commit(batch)
            await asyncio.sleep(0)  # let the answered requests go out (the commit never yields)

    async def _commit(self, batch: list[_Pending]) -> None:
        # Without rate limits the batch is one INSERT statement on PostgreSQL: no transaction
        # needed (its BEGIN and COMMIT were a third of the round trips). Limits read and write
        # their slots in the same transaction as the rows.
        unlimited = all(p.limits.unlimited for p in batch)
        try:
            async with self.db.autocommit() if unlimited else self.db.begin() as conn:
                refused = await self._write(conn, batch)
        except Exception as exc:
            if len(batch) > 1:  # find the culprit: one bad request must not sink the others
                log.warning("group commit of %d failed; retrying one by one", len(batch))
                for p in batch:
                    await self._commit([p])
                return
            log.exception("message commit failed")
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        self.stats["commits"] += 1
        accepted = 0
        for p in batch:
            if p.future.done():
                continue
            if p in refused:
                p.future.set_exception(QueueFull())
            else:
                accepted += 1
                p.future.set_result(None)
        self.stats["accepted"] += accepted
        metrics.COMMIT_BATCH.observe(len(batch))
        metrics.MESSAGES_ACCEPTED.inc(accepted)
        if refused:
            metrics.MESSAGES_REFUSED.inc(len(refused))
        self._pump_wake.set()

    async def _write(self, conn: Transaction, batch: list[_Pending]) -> set[_Pending]:
        at = now()
        limited = [p for p in batch if not p.limits.unlimited]
        slots: dict[str, datetime] = {}
        before: dict[str, datetime] = {}
        if limited:
            keys = set()
            for p in limited:
                keys.add(ratelimit.account_key(p.account_id))
                keys.add(ratelimit.number_key(p.sender))
            slots = await repo.load_slots(conn, keys, self.db.dialect, at)
            before = dict(slots)
        refused: set[_Pending] = set()
        msgs: list[dict[str, Any]] = []
        rcpts: list[dict[str, Any]] = []
        for p in batch:
            if not p.limits.unlimited:
                try:
                    times = ratelimit.schedule(
                        slots,
                        p.limits,
                        p.account_id,
                        p.sender,
                        p.segments,
                        len(p.recipient_rows),
                        at,
                    )
                except ratelimit.QueueFull:
                    refused.add(p)
                    continue
                for row, t in zip(p.recipient_rows, times, strict=True):
                    row["send_at"] = t
            msgs.append(p.message_row)
            rcpts.extend(p.recipient_rows)
        await repo.insert_messages(conn, msgs, rcpts)
        changed = {k: v for k, v in slots.items() if before.get(k) != v}
        await repo.save_slots(conn, changed, self.db.dialect)
        return refused

    # --- the send pump ---

    def wake(self) -> None:
        self._pump_wake.set()

    async def _pump_loop(self) -> None:
        next_sweep = 0.0
        while not self._stopping:
            n = 0
            started = time.monotonic()
            try:
                n = await self.pump_once()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 60
                    await self.media.sweep()
            except Exception:
                log.exception("messaging pump error")
            if n:
                await self.priority.give_way(time.monotonic() - started)
            if n >= self._last_limit:
                # Inline SQLite never suspends: without this, back-to-back batches would keep
                # the loop from the delivery worker and the API until the backlog is sent.
                await asyncio.sleep(0)
                continue
            self._pump_wake.clear()
            timeout = self.settings.worker_poll_seconds
            if n == 0:
                with contextlib.suppress(Exception):
                    async with self.db.connect() as conn:
                        due = await repo.next_due(conn)
                    if due is not None:
                        timeout = max(0.0, min(timeout, (due - now()).total_seconds()))
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pump_wake.wait(), timeout=timeout)

    async def pump_once(self) -> int:
        """Claim due recipients and hand them to the carrier; returns how many were claimed.

        One transaction claims a batch and hands it to the carrier, whose reports (and their
        callback events) commit with it. Recipients of messages with media are only leased
        there: their media is fetched outside any transaction, then a second transaction hands
        them over if the lease is still theirs.
        """
        carrier = self.carrier
        if carrier is None:
            return 0  # no carrier wired: messages wait, queued
        at = now()
        lease_until = at + self.lease
        try:
            n, leased = await self._send_batch(carrier, at, lease_until, isolate=False)
        except Exception:
            log.exception("send batch failed; retrying each recipient on its own")
            n, leased = await self._send_batch(carrier, at, lease_until, isolate=True)
        if leased:
            media_failures = await self._check_media(leased, at)
            try:
                async with self.db.begin() as conn:
                    await self._hand_over(
                        conn, carrier, leased, lease_until, media_failures, isolate=False
                    )
            except Exception:
                log.exception("send batch failed; retrying each recipient on its own")
                async with self.db.begin() as conn:
                    await self._hand_over(
                        conn, carrier, leased, lease_until, media_failures, isolate=True
                    )
        if n == 0:
            return 0
        self.stats["sent"] += n
        metrics.RECIPIENTS_SENT.inc(n)
        self.wake_delivery()
        return n

    async def _send_batch(
        self, carrier: MessagingCarrier, at: datetime, lease_until: datetime, *, isolate: bool
    ) -> tuple[int, list[repo.DueRecipient]]:
        """Claim and send in one transaction; returns (claimed, the leased ones with media)."""
        async with self.db.begin() as conn:
            limit = self._last_limit = self.priority.batch(self.send_batch)
            due = await repo.claim_due(conn, at, limit, self.db.is_postgres)
            leased = [d for d in due if d.message.media and not _expired(d, at)]
            if leased:
                keys = [_key(d) for d in leased]
                await repo.lease(conn, keys, lease_until)
                held = set(keys)
                due = [d for d in due if _key(d) not in held]
            await self._deliver(conn, carrier, due, {}, isolate=isolate)
        return len(due) + len(leased), leased

    async def _hand_over(
        self,
        conn: Transaction,
        carrier: MessagingCarrier,
        due: list[repo.DueRecipient],
        lease_until: datetime,
        media_failures: dict[str, int],
        *,
        isolate: bool,
    ) -> None:
        """Send leased recipients whose lease is still ours (another node may have taken it)."""
        ours = await repo.hand_over(conn, [_key(d) for d in due], lease_until)
        mine = [d for d in due if _key(d) in ours]
        await self._deliver(conn, carrier, mine, media_failures, isolate=isolate)

    async def _deliver(
        self,
        conn: Transaction,
        carrier: MessagingCarrier,
        due: list[repo.DueRecipient],
        media_failures: dict[str, int],
        *,
        isolate: bool,
    ) -> None:
        """Hand recipients to the carrier (expired ones and media failures fail instead), and
        clear send_at of those the carrier did not report on (a report's write clears it)."""
        at = now()
        failures: list[StatusReport] = []
        outbound: list[OutboundMessage] = []
        for d in due:
            self.sink.remember(d.message)
            if _expired(d, at):
                failures.append(_failure(d, E_EXPIRED))
                continue
            code = media_failures.get(d.message.id)
            if code is not None:
                failures.append(_failure(d, code))
                continue
            outbound.append(_outbound(d))
        moved: set[tuple[str, str]] = set()
        token = moved_keys.set(moved)
        try:
            await self._submit(conn, carrier, failures, outbound, isolate)
        finally:
            moved_keys.reset(token)
        # After per-recipient savepoints, a rolled-back report may be in `moved`: check them all.
        rest = [_key(d) for d in due if isolate or _key(d) not in moved]
        if rest:
            await repo.hand_over_all(conn, rest)

    async def _submit(
        self,
        conn: Transaction,
        carrier: MessagingCarrier,
        failures: list[StatusReport],
        outbound: list[OutboundMessage],
        isolate: bool,
    ) -> None:
        """Report the failures, and give the carrier the rest: as one batch, or (`isolate`,
        after a batch failed) one by one, each in a savepoint, failing 9999 any it refuses."""
        sink = self.sink.bind(conn)
        if failures:
            await sink.report(failures)
        if not isolate:
            if outbound:
                await carrier.submit(outbound, sink)
            return
        for msg in outbound:
            try:
                async with conn.begin_nested():
                    await carrier.submit((msg,), sink)
            except Exception:
                log.exception("carrier refused message %s to %s", msg.message_id, msg.to)
                refused = StatusReport(
                    msg.message_id, msg.to, "failed", E_UNKNOWN, describe_error(E_UNKNOWN)
                )
                await sink.report((refused,))

    async def _check_media(self, due: list[repo.DueRecipient], at: datetime) -> dict[str, int]:
        """Fetch each message's media once, outside any transaction; message id -> error code.

        Platform media is read from the media table (the sender's own); other URLs are fetched
        by delivery/ under the SSRF policy. The content itself is not kept: carriers read
        platform media themselves and pass public URLs on.
        """
        todo: dict[str, Message] = {}
        for d in due:
            m = d.message
            if m.media and m.id not in todo and not _expired(d, at):
                todo[m.id] = m
        if not todo:
            return {}
        failures: dict[str, int] = {}

        async def check(m: Message) -> None:
            for url in m.media:
                if not await self._media_ok(m.account_id, url, at):
                    failures[m.id] = E_MEDIA_UNAVAILABLE
                    return

        await asyncio.gather(*(check(m) for m in todo.values()))
        return failures

    async def _media_ok(self, account_id: str, url: str, at: datetime) -> bool:
        ref = self.sink.local_media_ref(url)
        if ref is not None:
            if ref[0] != account_id:
                return False
            async with self.db.connect() as conn:
                return await media_repo.exists(conn, ref[0], ref[1], at)
        if self.fetcher is None:
            return True  # no fetcher wired: the carrier gets the URL as given
        try:
            await self.fetcher.fetch(
                url, max_bytes=self.settings.media_max_bytes, timeout=MEDIA_FETCH_SECONDS
            )
        except FetchError as exc:
            log.info("media unavailable: %s", exc)
            return False
        return True

    # --- reads ---

    async def list_messages(self, q: ListQuery) -> tuple[int, list[repo.ListedRecipient]]:
        async with self.db.connect() as conn:
            return await repo.search(
                conn,
                q.filter,
                sort=q.sort,
                descending=q.descending,
                offset=q.offset,
                limit=q.limit,
                count_cap=q.count_cap,
            )


MEDIA_FETCH_SECONDS = 30.0


def _key(d: repo.DueRecipient) -> tuple[str, str]:
    return d.message.id, d.recipient


def _expired(d: repo.DueRecipient, at: datetime) -> bool:
    exp = d.message.expiration
    return exp is not None and exp <= at


def _failure(d: repo.DueRecipient, code: int) -> StatusReport:
    return StatusReport(
        message_id=d.message.id,
        recipient=d.recipient,
        status="failed",
        error_code=code,
        description=describe_error(code),
    )


def _outbound(d: repo.DueRecipient) -> OutboundMessage:
    m = d.message
    seg = segments.segment(m.text)
    return OutboundMessage(
        message_id=m.id,
        account_id=m.account_id,
        application_id=m.application_id,
        sender=m.sender,
        to=d.recipient,
        all_to=m.to,
        text=m.text,
        media=m.media,
        parts=(m.text,) if m.message_type == "mms" else seg.parts,
        segment_count=m.segment_count,
        encoding=seg.encoding,
        message_type=m.message_type,
        tag=m.tag,
        priority=m.priority,
        expiration=m.expiration,
    )
