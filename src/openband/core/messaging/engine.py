"""The messaging engine of one process: the accept path, the group committer, the send pump and
the media sweep (see the package docstring for the path of one message)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openband import metrics
from openband.clock import now
from openband.core import ratelimit, segments
from openband.core.messaging.cache import TtlCache
from openband.core.messaging.callbacks import message_body
from openband.core.messaging.codes import (
    E_EXPIRED,
    E_MEDIA_UNAVAILABLE,
    E_UNKNOWN,
    describe_error,
)
from openband.core.messaging.listing import ListQuery, list_item, parse_list_query
from openband.core.messaging.sink import MessagingSink, moved_keys
from openband.core.messaging.validation import (
    QueueFull,
    check_sender,
    new_message_id,
    parse_request,
    segment_count,
    segments_of,
)
from openband.core.priority import AcceptPriority
from openband.network.base import OutboundMessage, StatusReport
from openband.store import media as media_repo
from openband.store import messages as repo

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.store.db import Database

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Pending:
    account_id: str
    limits: ratelimit.Limits
    from_tn: str
    segments: int
    message_row: dict[str, Any]
    recipient_rows: list[dict[str, Any]]
    future: asyncio.Future[None] = field(repr=False)


class Messaging:
    """The messaging engine of one process: accept path, committer, send pump, media sweep."""

    def __init__(self, settings: Settings, db: Database, extras: dict[str, object]) -> None:
        self.settings = settings
        self.db = db
        self.extras = extras  # the carrier (extras["carrier"]) and delivery worker live here
        self.sink = MessagingSink(settings, db.dialect)
        ttl = settings.messaging_cache_seconds
        self._senders = TtlCache(ttl)
        self._limits = TtlCache(ttl)
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
        # Shared with the delivery worker (wiring): both give way to a burst of accepts.
        self.priority = AcceptPriority(settings.pipeline_share_under_load).register()
        self._last_limit = self.send_batch

    # --- lifecycle ---

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

    async def accept(self, account_id: str, body: Any) -> dict[str, Any]:
        """Validate and durably queue one create request; returns the 202 body."""
        self.priority.touch()
        at = now()
        draft = parse_request(body, at)
        check_sender(draft, await self._sender(account_id, draft.from_tn), account_id)
        limits = await self._account_limits(account_id)
        seg = segments_of(draft)
        count = segment_count(draft, seg)
        mtype = draft.message_type
        mid = new_message_id()
        size = len(draft.text.encode())
        message_row = {
            "id": mid,
            "account_id": account_id,
            "application_id": draft.application_id,
            "direction": "out",
            "owner": draft.from_tn,
            "from_tn": draft.from_tn,
            "to_tns": list(draft.to),
            "text": draft.text,
            "media": list(draft.media),
            "tag": draft.tag,
            "priority": draft.priority,
            "expiration": draft.expiration,
            "segment_count": count,
            "message_type": mtype,
            "created_at": at,
        }
        recipient_rows = [
            {
                "message_id": mid,
                "recipient": tn,
                "account_id": account_id,
                "direction": "OUTBOUND",
                "source_tn": draft.from_tn,
                "message_type": mtype,
                "status": "QUEUED",
                "error_code": None,
                "carrier_name": None,
                "segment_count": count,
                "message_size": size,
                "attachment_count": len(draft.media),
                "recipient_count": len(draft.to),
                "send_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for tn in draft.to
        ]
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ensure_committers().put_nowait(
            _Pending(account_id, limits, draft.from_tn, count, message_row, recipient_rows, fut)
        )
        await fut  # resolved after the commit: accepted means durable
        return message_body(
            message_id=mid,
            owner=draft.from_tn,
            application_id=draft.application_id,
            at=at,
            segment_count=count,
            direction="out",
            to=draft.to,
            from_tn=draft.from_tn,
            text=draft.text,
            media=draft.media,
            tag=draft.tag,
            priority=draft.priority,
            expiration=draft.expiration,
        )

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

    async def _write(self, conn: AsyncConnection, batch: list[_Pending]) -> set[_Pending]:
        at = now()
        limited = [p for p in batch if not p.limits.unlimited]
        slots: dict[str, datetime] = {}
        before: dict[str, datetime] = {}
        if limited:
            keys = set()
            for p in limited:
                keys.add(ratelimit.account_key(p.account_id))
                keys.add(ratelimit.number_key(p.from_tn))
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
                        p.from_tn,
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
                    await self.sweep_media()
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

    async def sweep_media(self) -> int:
        async with self.db.begin() as conn:
            return await media_repo.sweep(conn, now())

    async def pump_once(self) -> int:
        """Claim due recipients and hand them to the carrier; returns how many were claimed.

        One transaction claims a batch and hands it to the carrier, whose reports (and their
        callback events) commit with it. Recipients of messages with media are only leased
        there: their media is fetched outside any transaction, then a second transaction hands
        them over if the lease is still theirs.
        """
        carrier = self.extras.get("carrier")
        if carrier is None:
            return 0  # no carrier wired yet: messages wait, queued
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
        delivery = self.extras.get("delivery")
        if delivery is not None and hasattr(delivery, "wake"):
            delivery.wake()
        return n

    async def _send_batch(
        self, carrier: Any, at: datetime, lease_until: datetime, *, isolate: bool
    ) -> tuple[int, list[repo.DueRecipient]]:
        """Claim and send in one transaction; returns (claimed, the leased ones with media)."""
        async with self.db.begin() as conn:
            limit = self._last_limit = self.priority.batch(self.send_batch)
            due = await repo.claim_due(conn, at, limit, self.db.is_postgres)
            leased = [
                d for d in due if d.media and not (d.expiration is not None and d.expiration <= at)
            ]
            if leased:
                keys = [(d.message_id, d.recipient) for d in leased]
                await repo.lease(conn, keys, lease_until)
                held = set(keys)
                due = [d for d in due if (d.message_id, d.recipient) not in held]
            await self._deliver(conn, carrier, due, {}, isolate=isolate)
        return len(due) + len(leased), leased

    async def _hand_over(
        self,
        conn: AsyncConnection,
        carrier: Any,
        due: list[repo.DueRecipient],
        lease_until: datetime,
        media_failures: dict[str, int],
        *,
        isolate: bool,
    ) -> None:
        """Send leased recipients whose lease is still ours (another node may have taken it)."""
        ours = await repo.hand_over(conn, [(d.message_id, d.recipient) for d in due], lease_until)
        mine = [d for d in due if (d.message_id, d.recipient) in ours]
        await self._deliver(conn, carrier, mine, media_failures, isolate=isolate)

    async def _deliver(
        self,
        conn: AsyncConnection,
        carrier: Any,
        due: list[repo.DueRecipient],
        media_failures: dict[str, int],
        *,
        isolate: bool,
    ) -> None:
        """Hand recipients to the carrier (expired ones and media failures fail instead), and
        clear send_at of those the carrier did not report on (a report's write clears it)."""
        moved: set[tuple[str, str]] = set()
        token = moved_keys.set(moved)
        try:
            await self._hand_to_carrier(conn, carrier, due, media_failures, isolate=isolate)
        finally:
            moved_keys.reset(token)
        # After per-recipient savepoints, a rolled-back report may be in `moved`: check them all.
        rest = [
            (d.message_id, d.recipient)
            for d in due
            if isolate or (d.message_id, d.recipient) not in moved
        ]
        if rest:
            await repo.hand_over_all(conn, rest)

    async def _hand_to_carrier(
        self,
        conn: AsyncConnection,
        carrier: Any,
        due: list[repo.DueRecipient],
        media_failures: dict[str, int],
        *,
        isolate: bool,
    ) -> None:
        at = now()
        failures: list[StatusReport] = []
        outbound: list[tuple[repo.DueRecipient, OutboundMessage]] = []
        for d in due:
            self.sink.remember(
                repo.MessageRow(
                    d.message_id,
                    d.account_id,
                    d.application_id,
                    "out",
                    d.from_tn,
                    d.from_tn,
                    d.to_tns,
                    d.text,
                    d.media,
                    d.tag,
                    d.priority,
                    d.expiration,
                    d.segment_count,
                    d.message_type,
                    d.created_at,
                )
            )
            if d.expiration is not None and d.expiration <= at:
                failures.append(self._failure(d, E_EXPIRED))
                continue
            code = media_failures.get(d.message_id)
            if code is not None:
                failures.append(self._failure(d, code))
                continue
            outbound.append((d, self._outbound(d)))
        if failures:
            await self.sink.report_many(conn, failures)
        if not isolate:
            submit_many = getattr(carrier, "submit_many", None)
            if submit_many is not None:
                await submit_many(conn, [msg for _, msg in outbound], self.sink)
            else:
                for _, msg in outbound:
                    await carrier.submit(conn, msg, self.sink)
            return
        for d, msg in outbound:
            try:
                async with conn.begin_nested():
                    await carrier.submit(conn, msg, self.sink)
            except Exception:
                log.exception("carrier refused message %s to %s", d.message_id, d.recipient)
                await self.sink.report(conn, self._failure(d, E_UNKNOWN))

    @staticmethod
    def _failure(d: repo.DueRecipient, code: int) -> StatusReport:
        return StatusReport(
            message_id=d.message_id,
            recipient=d.recipient,
            status="failed",
            error_code=code,
            description=describe_error(code),
        )

    def _outbound(self, d: repo.DueRecipient) -> OutboundMessage:
        seg = segments.segment(d.text)
        parts = (d.text,) if d.message_type == "mms" else seg.parts
        return OutboundMessage(
            message_id=d.message_id,
            account_id=d.account_id,
            application_id=d.application_id,
            from_tn=d.from_tn,
            to=d.recipient,
            all_to=d.to_tns,
            text=d.text,
            media=d.media,
            parts=parts,
            segment_count=d.segment_count,
            encoding=seg.encoding,
            message_type=d.message_type,
            tag=d.tag,
            priority=d.priority,
            expiration=d.expiration,
        )

    async def _check_media(self, due: list[repo.DueRecipient], at: datetime) -> dict[str, int]:
        """Fetch each message's media once, outside any transaction; message id -> error code.

        Platform media is read from the media table (the sender's own); other URLs go through
        delivery's HTTP client and its SSRF policy. The content itself is not kept: carriers
        read platform media themselves and pass public URLs on.
        """
        todo: dict[str, repo.DueRecipient] = {}
        for d in due:
            if (
                d.media
                and d.message_id not in todo
                and not (d.expiration is not None and d.expiration <= at)
            ):
                todo[d.message_id] = d
        if not todo:
            return {}
        failures: dict[str, int] = {}

        async def check(d: repo.DueRecipient) -> None:
            for url in d.media:
                if not await self._media_ok(d.account_id, url, at):
                    failures[d.message_id] = E_MEDIA_UNAVAILABLE
                    return

        await asyncio.gather(*(check(d) for d in todo.values()))
        return failures

    async def _media_ok(self, account_id: str, url: str, at: datetime) -> bool:
        ref = self.sink.local_media_ref(url)
        if ref is not None:
            if ref[0] != account_id:
                return False
            async with self.db.connect() as conn:
                return await media_repo.get(conn, ref[0], ref[1], at) is not None
        http = self.extras.get("http")
        if http is None:
            return True  # no HTTP client wired: the carrier gets the URL as given
        from openband.delivery.http import MediaError

        try:
            await http.fetch_media(url, max_bytes=self.settings.media_max_bytes)  # type: ignore[attr-defined]
        except MediaError as exc:
            log.info("media unavailable: %s", exc)
            return False
        return True

    # --- reads ---

    async def list_messages(
        self, account_id: str, params: Mapping[str, str]
    ) -> tuple[int, list[dict[str, Any]], ListQuery]:
        q = parse_list_query(account_id, params)
        async with self.db.connect() as conn:
            total, rows = await repo.search(
                conn,
                q.filter,
                sort=q.sort,
                descending=q.descending,
                offset=q.offset,
                limit=q.limit,
                count_cap=q.count_cap,
            )
        return total, [list_item(r) for r in rows], q
