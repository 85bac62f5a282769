"""MessagingSink: how carriers report back (network/messaging.CarrierSink), in one unit of work:
status transitions with their callback events, inbound messages, and the carriers' timers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from openband import ids
from openband.clock import now
from openband.core.cache import Generation, Lru, TtlCache
from openband.core.messaging.codes import CALLBACK_TYPES, E_UNKNOWN, FORWARD, describe_error
from openband.core.messaging.media import MEDIA_PATH, MediaLibrary, ReceivedMedia, media_url
from openband.core.messaging.model import CallbackFormat, Message, MessageEvent
from openband.core.phone import to_e164
from openband.core.provisioning.config import ApplicationConfig, Credentials, MessagingConfig
from openband.delivery import outbox
from openband.errors import InvalidInput
from openband.network.messaging import InboundMessage, MessagingCarrier, StatusReport
from openband.sealing import Sealer, SealingError
from openband.store import callbacks as callbacks_repo
from openband.store import jobs as jobs_repo
from openband.store import messages as repo
from openband.store import provisioning as prov_repo
from openband.store.db import Transaction

if TYPE_CHECKING:
    from openband.config import Settings

log = logging.getLogger(__name__)

# The durable timers carriers set (`later`): a job each, run by `on_timer`. Rows written before
# timers were the carrier interface's carry the simulator's old kind; both run the same way.
TIMER_JOB = "carrier_timer"
LEGACY_TIMER_JOBS = ("sim_event",)

_NO_CALLBACKS = MessagingConfig()

# Set by the send pump around a carrier hand-off (in its own task only): the recipients whose
# status a report moved, hence whose send_at that same write cleared (store/messages).
moved_keys: ContextVar[set[tuple[str, str]] | None] = ContextVar("moved_keys", default=None)


def _absorbs(status: str, report: StatusReport, prev: tuple[StatusReport, str, int | None]) -> bool:
    """Whether applying `report` alone ends where `prev` then `report` would: `prev` tells no
    callback, moves from no state `report` cannot, and sets nothing `report` does not (e.g.
    sent then delivered is one transition to delivered)."""
    p, p_status, p_code = prev
    allowed = FORWARD[status]
    return (
        CALLBACK_TYPES.get(p_status) is None
        and p_code is None
        and p_status in allowed
        and all(s in allowed for s in FORWARD[p_status])
        and p.carrier_name in (None, report.carrier_name)
    )


class BoundSink:
    """The sink of one unit of work: what network/messaging.CarrierSink asks for."""

    __slots__ = ("_sink", "transaction")

    def __init__(self, sink: MessagingSink, transaction: Transaction) -> None:
        self._sink = sink
        self.transaction = transaction

    async def report(self, reports: Sequence[StatusReport]) -> None:
        await self._sink.report(self.transaction, reports)

    async def inbound(self, message: InboundMessage) -> list[str]:
        return await self._sink.inbound(self.transaction, message)

    async def later(self, after: timedelta, ref: str) -> None:
        await jobs_repo.enqueue(self.transaction, TIMER_JOB, ref, run_at=now() + after)


class MessagingSink:
    """core/messaging's side of the carrier interface."""

    def __init__(
        self,
        settings: Settings,
        dialect: str,
        callbacks: CallbackFormat,
        media: MediaLibrary,
        *,
        sealer: Sealer,
        routing: Generation | None = None,
    ) -> None:
        self.settings = settings
        self.dialect = dialect
        self.callbacks = callbacks
        self.media = media  # inbound MMS copies go through the media library's blob store
        # Opens the applications' stored secrets; the outbox seals them again in its rows.
        self.sealer = sealer
        self._messages = Lru(50_000)  # messages never change: cache them for the reports
        self._apps = TtlCache(settings.messaging_cache_seconds, generation=routing)

    def bind(self, transaction: Transaction) -> BoundSink:
        return BoundSink(self, transaction)

    async def run_timer(self, carrier: MessagingCarrier, tx: Transaction, ref: str) -> None:
        """A carrier's timer came due (a job, in the job's transaction)."""
        await carrier.on_timer(ref, self.bind(tx))

    @property
    def public_base(self) -> str:
        s = self.settings
        return (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")

    def remember(self, m: Message) -> None:
        self._messages.put(m.id, m)

    async def _message(self, conn: Transaction, message_id: str) -> Message | None:
        m = self._messages.get(message_id)
        if m is None:
            m = await repo.get_message(conn, message_id)
            if m is not None:
                self._messages.put(message_id, m)
        return m

    async def _app_config(
        self, conn: Transaction, account_id: str, app_id: str | None
    ) -> MessagingConfig:
        """The application's messaging callbacks (none without one), its secrets opened, cached
        briefly. An application whose secrets this node cannot open (a key dropped before
        `openband secrets rotate` ran; the start's key check catches a wrong key) sends none
        rather than sending without its credentials, or failing its messages' status updates."""
        if not app_id:
            return _NO_CALLBACKS

        async def load() -> MessagingConfig:
            app = await prov_repo.get_application(conn, account_id, app_id)
            if app is None:
                return _NO_CALLBACKS
            try:
                return ApplicationConfig.load(app.service_type, app.config, self.sealer).messaging
            except SealingError as exc:
                log.error("application %s: no callbacks sent: %s", app_id, exc)
                return _NO_CALLBACKS

        return await self._apps.get_or_load(app_id, load)  # type: ignore[no-any-return]

    def _webhook(
        self,
        event: MessageEvent,
        target: tuple[str, Credentials | None],
        signing_secret: str | None,
    ) -> outbox.Webhook:
        m = event.message
        url, creds = target
        return outbox.Webhook(
            account_id=m.account_id,
            application_id=m.application_id,
            kind="messaging",
            url=url,
            body=self.callbacks.callback_body(event),
            event_type=event.type,
            ordering_key=callbacks_repo.message_key(m.id, event.to),
            auth=(creds.user, creds.password) if creds is not None else None,
            message_id=m.id,
            signing_secret=signing_secret,
        )

    async def report(self, conn: Transaction, reports: Sequence[StatusReport]) -> None:
        """Record many reports in a few statements, as if reported one by one in this order.

        A recipient's k-th report of the batch goes in round k, so its transitions apply in
        order; within a round, reports of one kind move all their recipients in one UPDATE, and
        the round's callback events are inserted in one statement. A report that does not move
        its recipient (a duplicate or a regression) is already recorded: nothing to tell.
        """
        per_key: dict[tuple[str, str], list[tuple[StatusReport, str, int | None]]] = {}
        for r in reports:
            status = r.status.upper()
            if status not in FORWARD:
                raise ValueError(f"unknown status {r.status!r}")
            code = r.error_code if status == "FAILED" else None
            if status == "FAILED" and code is None:
                code = E_UNKNOWN
            todo = per_key.setdefault((r.message_id, r.recipient), [])
            if todo and _absorbs(status, r, todo[-1]):
                todo[-1] = (r, status, code)
            else:
                todo.append((r, status, code))
        rounds: list[list[tuple[StatusReport, str, int | None]]] = []
        for todo in per_key.values():
            for k, item in enumerate(todo):
                if k == len(rounds):
                    rounds.append([])
                rounds[k].append(item)
        for batch in rounds:
            at = now()
            groups: dict[tuple[str, int | None, str | None], list[tuple[str, str]]] = {}
            for r, status, code in batch:
                groups.setdefault((status, code, r.carrier_name), []).append(
                    (r.message_id, r.recipient)
                )
            moved: set[tuple[str, str]] = set()
            for (status, code, carrier), keys in groups.items():
                moved |= await repo.transition_many(
                    conn, keys, status, FORWARD[status], at, error_code=code, carrier_name=carrier
                )
            tracked = moved_keys.get()
            if tracked is not None:
                tracked |= moved
            webhooks: list[outbox.Webhook] = []
            for r, status, code in batch:
                if (r.message_id, r.recipient) in moved:
                    w = await self._status_webhook(conn, r, status, code, at)
                    if w is not None:
                        webhooks.append(w)
            if webhooks:
                await outbox.enqueue(
                    conn,
                    webhooks,
                    sealer=self.sealer,
                    retry_hours=self.settings.callback_retry_hours,
                    at=at,
                )

    async def _status_webhook(
        self,
        conn: Transaction,
        report: StatusReport,
        status: str,
        code: int | None,
        at: datetime,
    ) -> outbox.Webhook | None:
        """The webhook a recorded transition sends, or None (no callback for it)."""
        event_type = CALLBACK_TYPES.get(status)
        if event_type is None:
            return None
        m = await self._message(conn, report.message_id)
        if m is None:
            return None
        cfg = await self._app_config(conn, m.account_id, m.application_id)
        target = cfg.status_target(event_type, m.message_type)
        if target is None:
            return None
        if status == "DELIVERED":
            description = report.description or "ok"
        elif status == "FAILED":
            description = report.description or describe_error(code or E_UNKNOWN)
        else:
            description = report.description or "Message is sending"
        event = MessageEvent(
            type=event_type,
            time=at,
            description=description,
            to=report.recipient,
            message=m,
            error_code=code,
            carrier_name=report.carrier_name,
        )
        return self._webhook(event, target, cfg.signing_secret)

    async def inbound(self, conn: Transaction, message: InboundMessage) -> list[str]:
        at = now()
        to: list[str] = []
        for tn in message.to:
            with contextlib.suppress(InvalidInput):
                e = to_e164(tn, field="to")
                if e not in to:
                    to.append(e)
        sender = message.sender
        with contextlib.suppress(InvalidInput):
            sender = to_e164(message.sender, field="from")
        dests = await repo.destinations(conn, to)
        # Platform media named by URL (on-net MMS): copied so each recipient can GET it. The
        # send pump only hands the carrier a sender's own media (another account's fails 4410).
        linked: list[ReceivedMedia | str] = []
        for url in message.media_urls:
            item = await self._platform_media(conn, url, at)
            linked.append(item if item is not None else url)
        mms = bool(message.media or message.media_urls) or len(to) > 1
        mtype = "mms" if mms else "sms"
        text = message.text or ""
        seg_count = 1 if mms else max(1, message.segment_count or 1)
        # Each recipient's copies go to the blob store within its account's quota; one that
        # does not fit is left out of that recipient's message (core/messaging/media.py).
        stored: list[ReceivedMedia] = [
            ReceivedMedia(mi.name, mi.content_type, len(mi.content), content=mi.content)
            for mi in message.media
        ] + [x for x in linked if not isinstance(x, str)]
        out: list[str] = []
        for d in dests:
            mid = ids.message_id()
            media_ids = await self.media.store_received(conn, d.account_id, mid, stored, at)
            urls = [media_url(self.public_base, d.account_id, m) for m in media_ids if m]
            urls += [x for x in linked if isinstance(x, str)]
            m = Message(
                id=mid,
                account_id=d.account_id,
                application_id=d.app_id,
                direction="in",
                owner=d.tn,
                sender=sender,
                to=tuple(to),
                text=text,
                media=tuple(urls),
                tag=None,
                priority="default",
                expiration=None,
                segment_count=seg_count,
                message_type=mtype,
                time=at,
            )
            recipient = repo.recipient_values(
                m,
                d.tn,
                status="RECEIVED",
                carrier_name=message.carrier_name,
                send_at=None,
            )
            await repo.insert_messages(conn, [repo.message_values(m)], [recipient])
            out.append(mid)
            cfg = await self._app_config(conn, d.account_id, d.app_id)
            target = cfg.inbound_target()
            if target is None:
                continue
            event = MessageEvent(
                type="message-received",
                time=at,
                description="Incoming message received",
                to=d.tn,
                message=m,
            )
            await outbox.enqueue(
                conn,
                [self._webhook(event, target, cfg.signing_secret)],
                sealer=self.sealer,
                retry_hours=self.settings.callback_retry_hours,
                at=at,
            )
        return out

    def local_media_ref(self, url: str) -> tuple[str, str] | None:
        """(account, media id) when `url` names media stored on this platform."""
        parts = urlsplit(url)
        base = urlsplit(self.public_base)
        if parts.netloc.lower() != base.netloc.lower() and parts.hostname not in (
            "127.0.0.1",
            "localhost",
        ):
            return None
        if parts.hostname in ("127.0.0.1", "localhost") and parts.port != base.port:
            return None
        m = MEDIA_PATH.match(parts.path)
        if m is None:
            return None
        return unquote(m.group("account")), unquote(m.group("media_id"))

    async def _platform_media(
        self, conn: Transaction, url: str, at: datetime
    ) -> ReceivedMedia | None:
        ref = self.local_media_ref(url)
        if ref is None:
            return None
        return await self.media.received_source(conn, ref[0], ref[1], at)
