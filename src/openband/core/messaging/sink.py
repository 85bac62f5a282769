"""MessagingSink: how a carrier reports back (network/base.CarrierSink), inside the pipeline's
transaction: status transitions with their callback events, and inbound messages."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from openband import ids
from openband.clock import iso, now
from openband.core.messaging.cache import TtlCache, _Lru
from openband.core.messaging.callbacks import (
    inbound_callback_target,
    message_body,
    status_callback_target,
)
from openband.core.messaging.codes import CALLBACK_TYPES, E_UNKNOWN, FORWARD, describe_error
from openband.core.messaging.media import _MEDIA_PATH, media_url, safe_media_name
from openband.core.phone import to_e164
from openband.delivery import outbox
from openband.errors import InvalidInput
from openband.network.base import InboundMessage, StatusReport
from openband.store import callbacks as callbacks_repo
from openband.store import media as media_repo
from openband.store import messages as repo
from openband.store import provisioning as prov_repo

if TYPE_CHECKING:
    from openband.config import Settings

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


class MessagingSink:
    """core/messaging's side of network/base.CarrierSink."""

    def __init__(self, settings: Settings, dialect: str) -> None:
        self.settings = settings
        self.dialect = dialect
        self._messages = _Lru(50_000)  # messages never change: cache them for the reports
        self._apps = TtlCache(settings.messaging_cache_seconds)

    @property
    def public_base(self) -> str:
        s = self.settings
        return (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")

    def remember(self, m: repo.MessageRow) -> None:
        self._messages.put(m.id, m)

    async def _message(self, conn: AsyncConnection, message_id: str) -> repo.MessageRow | None:
        m = self._messages.get(message_id)
        if m is None:
            m = await repo.get_message(conn, message_id)
            if m is not None:
                self._messages.put(message_id, m)
        return m

    async def _app_config(
        self, conn: AsyncConnection, account_id: str, app_id: str | None
    ) -> dict[str, Any] | None:
        if not app_id:
            return None
        hit, cfg = self._apps.get(app_id)
        if not hit:
            app = await prov_repo.get_application(conn, account_id, app_id)
            cfg = app.config if app is not None else None
            self._apps.put(app_id, cfg)
        return cfg

    async def report(self, conn: AsyncConnection, report: StatusReport) -> None:
        await self.report_many(conn, (report,))

    async def report_many(self, conn: AsyncConnection, reports: Sequence[StatusReport]) -> None:
        """Record many reports in a few statements, as if reported one by one in this order.

        A recipient's k-th report of the batch goes in round k, so its transitions apply in
        order; within a round, reports of one kind move all their recipients in one UPDATE, and
        the round's callback events are inserted in one executemany. A report that does not move
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
            events: list[callbacks_repo.NewEvent] = []
            for r, status, code in batch:
                if (r.message_id, r.recipient) in moved:
                    ev = await self._status_event(conn, r, status, code, at)
                    if ev is not None:
                        events.append(ev)
            if events:
                await callbacks_repo.enqueue(conn, events, at=at)

    async def _status_event(
        self,
        conn: AsyncConnection,
        report: StatusReport,
        status: str,
        code: int | None,
        at: datetime,
    ) -> callbacks_repo.NewEvent | None:
        """The outbox event a recorded transition sends, or None (no callback for it)."""
        event_type = CALLBACK_TYPES.get(status)
        if event_type is None:
            return None
        m = await self._message(conn, report.message_id)
        if m is None:
            return None
        cfg = await self._app_config(conn, m.account_id, m.application_id)
        target = status_callback_target(cfg or {}, event_type, m.message_type)
        if target is None:
            return None
        if status == "DELIVERED":
            description = report.description or "ok"
        elif status == "FAILED":
            description = report.description or describe_error(code or E_UNKNOWN)
        else:
            description = report.description or "Message is sending"
        event: dict[str, Any] = {
            "type": event_type,
            "time": iso(at),
            "description": description,
            "to": report.recipient,
        }
        if code is not None:
            event["errorCode"] = code
        if report.carrier_name:
            event["carrierName"] = report.carrier_name
        event["message"] = message_body(
            message_id=m.id,
            owner=m.owner,
            application_id=m.application_id,
            at=m.created_at,
            segment_count=m.segment_count,
            direction="out",
            to=m.to_tns,
            from_tn=m.from_tn,
            text="",
            media=m.media,
            tag=m.tag,
            priority=m.priority,
        )
        url, auth = target
        # What outbox.enqueue writes, built here so a batch goes in one executemany.
        return callbacks_repo.NewEvent(
            id=ids.event_id(),
            account_id=m.account_id,
            application_id=m.application_id,
            kind="messaging",
            ordering_key=callbacks_repo.message_key(m.id, report.recipient),
            event_type=event_type,
            url=url,
            payload=outbox.encode_body([event]),
            expires_at=at + timedelta(hours=self.settings.callback_retry_hours),
            message_id=m.id,
            auth_user=auth[0] if auth else None,
            auth_password=auth[1] if auth else None,
        )

    async def inbound(self, conn: AsyncConnection, message: InboundMessage) -> list[str]:
        at = now()
        to: list[str] = []
        for tn in message.to:
            with contextlib.suppress(InvalidInput):
                e = to_e164(tn, field="to")
                if e not in to:
                    to.append(e)
        from_tn = message.from_tn
        with contextlib.suppress(InvalidInput):
            from_tn = to_e164(message.from_tn, field="from")
        dests = await repo.destinations(conn, to)
        # Platform media named by URL (on-net MMS): copied so each recipient can GET it.
        linked: list[tuple[str, bytes, str] | str] = []
        for url in message.media_urls:
            item = await self._platform_media(conn, url, at)
            linked.append(item if item is not None else url)
        mms = bool(message.media or message.media_urls) or len(to) > 1
        expires = at + timedelta(hours=self.settings.media_retention_hours)
        text = message.text or ""
        out: list[str] = []
        for d in dests:
            mid = ids.message_id()
            urls: list[str] = []
            stored: list[tuple[str, bytes, str]] = [
                (mi.name, mi.content, mi.content_type) for mi in message.media
            ] + [x for x in linked if not isinstance(x, str)]
            for index, (name, content, ctype) in enumerate(stored):
                media_id = f"{mid}/{index}/{safe_media_name(name, index)}"
                await media_repo.put(
                    conn,
                    self.dialect,
                    account_id=d.account_id,
                    media_id=media_id,
                    content=content,
                    content_type=ctype or "application/octet-stream",
                    cache_control=None,
                    at=at,
                    expires_at=expires,
                )
                urls.append(media_url(self.public_base, d.account_id, media_id))
            urls += [x for x in linked if isinstance(x, str)]
            seg_count = 1 if mms else max(1, message.segment_count or 1)
            await repo.insert_messages(
                conn,
                [
                    {
                        "id": mid,
                        "account_id": d.account_id,
                        "application_id": d.app_id,
                        "direction": "in",
                        "owner": d.tn,
                        "from_tn": from_tn,
                        "to_tns": to,
                        "text": text,
                        "media": urls,
                        "tag": None,
                        "priority": "default",
                        "expiration": None,
                        "segment_count": seg_count,
                        "message_type": "mms" if mms else "sms",
                        "created_at": at,
                    }
                ],
                [
                    {
                        "message_id": mid,
                        "recipient": d.tn,
                        "account_id": d.account_id,
                        "direction": "INBOUND",
                        "source_tn": from_tn,
                        "message_type": "mms" if mms else "sms",
                        "status": "RECEIVED",
                        "error_code": None,
                        "carrier_name": message.carrier_name,
                        "segment_count": seg_count,
                        "message_size": len(text.encode()),
                        "attachment_count": len(urls),
                        "recipient_count": len(to),
                        "send_at": None,
                        "created_at": at,
                        "updated_at": at,
                    }
                ],
            )
            out.append(mid)
            cfg = await self._app_config(conn, d.account_id, d.app_id)
            target = inbound_callback_target(cfg or {})
            if target is None:
                continue
            event = {
                "type": "message-received",
                "time": iso(at),
                "description": "Incoming message received",
                "to": d.tn,
                "message": message_body(
                    message_id=mid,
                    owner=d.tn,
                    application_id=d.app_id,
                    at=at,
                    segment_count=seg_count,
                    direction="in",
                    to=to,
                    from_tn=from_tn,
                    text=text,
                    media=urls,
                ),
            }
            url, auth = target
            await outbox.enqueue(
                conn,
                account_id=d.account_id,
                application_id=d.app_id,
                kind="messaging",
                url=url,
                body_events=[event],
                auth=auth,
                ordering_key=callbacks_repo.message_key(mid, d.tn),
                message_id=mid,
                retry_hours=self.settings.callback_retry_hours,
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
        m = _MEDIA_PATH.match(parts.path)
        if m is None:
            return None
        return unquote(m.group("account")), unquote(m.group("media_id"))

    async def _platform_media(
        self, conn: AsyncConnection, url: str, at: datetime
    ) -> tuple[str, bytes, str] | None:
        ref = self.local_media_ref(url)
        if ref is None:
            return None
        row = await media_repo.get(conn, ref[0], ref[1], at)
        if row is None:
            return None
        return ref[1].rsplit("/", 1)[-1], row.content, row.content_type
