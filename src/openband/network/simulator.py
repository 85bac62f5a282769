"""The simulated phone network: the default carrier, where every number no account owns is a
virtual handset.

Outbound messages go one of two ways:
- ON-NET: the recipient is a number in service on this platform (any account). The message is
  handed back to core/messaging as inbound (`sink.inbound`), so two apps on one OpenBand can text
  each other, and the sender gets its receipts (sending for MMS, then delivered).
- OFF-NET: the recipient is a virtual handset. Its behaviour is fixed for the reserved test numbers
  (+1 NPA 555-0100 … 0107, see RESERVED), scripted through /sim/v1/handsets/{number}
  (sim_handsets), or the default: deliver. What a handset receives and sends is recorded in
  sim_handset_messages, the simulator's observable record.

Everything happens inside the caller's transaction. What happens later (a delayed delivery, a
receipt that never comes, a delayed auto-reply) is a durable `sim_event` job written in that same
transaction, whose handler (`Simulator.run_event`, registered in wiring.py) reports in a later
transaction: a crash loses nothing and repeats nothing. The job's state lives in a
sim_handset_messages row whose `direction` says what is pending ("pending": to be received,
"failing": to be failed, "outbox": an auto-reply to be sent); listings show only "received" and
"sent" rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.core import segments
from openband.core.messaging.codes import ERROR_DESCRIPTIONS, describe_error
from openband.core.messaging.validation import MAX_TEXT
from openband.errors import InvalidInput
from openband.network.base import (
    CarrierSink,
    InboundMessage,
    MediaItem,
    OutboundMessage,
    Status,
    StatusReport,
)
from openband.store import jobs, numbers
from openband.store import media as media_repo
from openband.store.db import insert_rows
from openband.store.schema import sim_handset_messages as hm
from openband.store.schema import sim_handsets

CARRIER_NAME = "OpenBand Simulator"
JOB_KIND = "sim_event"

Mode = Literal["deliver", "fail", "never_confirm", "opt_out"]
MODES: tuple[Mode, ...] = ("deliver", "fail", "never_confirm", "opt_out")

OPT_OUT_CODE = 4775  # destination-rejected-due-to-user-opt-out
RECEIPT_EXPIRED_CODE = 9902  # delivery-receipt-expired
MAX_DELAY_SECONDS = 86400.0

# Row states of sim_handset_messages: the two a user sees, and the three that hold a pending job.
RECEIVED, SENT = "received", "sent"
PENDING, FAILING, OUTBOX = "pending", "failing", "outbox"
VISIBLE = (RECEIVED, SENT)


def reported_after_sending(code: int) -> bool:
    """Whether a failure is learnt after the message left for the carrier (so `sent` comes first).

    Per the error table, 47xx are carrier rejections (4xxx with second digit 7), 56xx carrier
    service failures and 99xx downstream/receipt failures; the rest are detected by Bandwidth
    before sending.
    """
    return code // 100 == 47 or code // 100 == 56 or code >= 9900


@dataclass(frozen=True)
class Behaviour:
    """How a virtual handset answers what it is sent (the PUT /sim/v1/handsets body)."""

    mode: Mode = "deliver"
    error_code: int | None = None  # mode "fail" only
    delay_seconds: float = 0.0  # deliver/fail: the final receipt comes this much later
    auto_reply: str | None = None  # "{text}" is replaced by the received text
    auto_reply_delay_seconds: float = 0.0

    def validate(self) -> Behaviour:
        if self.mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}", field="mode")
        if self.mode == "fail":
            if self.error_code is None:
                raise InvalidInput("errorCode is required when mode is fail", field="errorCode")
            if self.error_code not in ERROR_DESCRIPTIONS:
                raise InvalidInput(
                    f"errorCode {self.error_code} is not a Bandwidth messaging error code",
                    field="errorCode",
                )
        elif self.error_code is not None:
            raise InvalidInput("errorCode applies only to mode fail", field="errorCode")
        for name, value in (
            ("delaySeconds", self.delay_seconds),
            ("autoReplyDelaySeconds", self.auto_reply_delay_seconds),
        ):
            if not 0 <= value <= MAX_DELAY_SECONDS:
                raise InvalidInput(
                    f"{name} must be between 0 and {MAX_DELAY_SECONDS:g}", field=name
                )
        if self.auto_reply is not None and len(self.auto_reply) > MAX_TEXT:
            raise InvalidInput(f"autoReply is longer than {MAX_TEXT} characters", field="autoReply")
        return self

    @property
    def failure_code(self) -> int | None:
        """The code this handset fails with, if it fails."""
        if self.mode == "fail":
            return self.error_code
        if self.mode == "opt_out":
            return OPT_OUT_CODE
        if self.mode == "never_confirm":
            return RECEIPT_EXPIRED_CODE
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errorCode": self.error_code,
            "delaySeconds": self.delay_seconds,
            "autoReply": self.auto_reply,
            "autoReplyDelaySeconds": self.auto_reply_delay_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Behaviour:
        """From a stored row (written by to_json); unknown keys are ignored."""
        data = data or {}
        mode = data.get("mode") if data.get("mode") in MODES else "deliver"
        code = data.get("errorCode")
        return cls(
            mode=cast(Mode, mode),
            error_code=int(code) if code is not None else None,
            delay_seconds=float(data.get("delaySeconds") or 0.0),
            auto_reply=data.get("autoReply"),
            auto_reply_delay_seconds=float(data.get("autoReplyDelaySeconds") or 0.0),
        )


DEFAULT = Behaviour()


@dataclass(frozen=True)
class ReservedNumber:
    """A test number with a fixed behaviour, in every NPA: +1 NPA 555 01xx (fictional range)."""

    line: str  # the last four digits, e.g. "0101"
    behaviour: Behaviour
    summary: str

    def example(self, npa: str = "919") -> str:
        return f"+1{npa}555{self.line}"


RESERVED_DELAY_SECONDS = 5.0

RESERVED: dict[str, ReservedNumber] = {
    r.line: r
    for r in (
        ReservedNumber("0100", Behaviour(), "delivered at once"),
        ReservedNumber(
            "0101", Behaviour("fail", 4720), "fails 4720 invalid-destination-address (after sent)"
        ),
        ReservedNumber(
            "0102", Behaviour("opt_out"), "fails 4775 destination-rejected-due-to-user-opt-out"
        ),
        ReservedNumber(
            "0103",
            Behaviour("never_confirm"),
            "sent, no receipt: fails 9902 delivery-receipt-expired after the receipt timeout",
        ),
        ReservedNumber(
            "0104",
            Behaviour(delay_seconds=RESERVED_DELAY_SECONDS),
            f"sent at once, delivered {RESERVED_DELAY_SECONDS:g} s later",
        ),
        ReservedNumber(
            "0105",
            Behaviour(auto_reply="You said: {text}"),
            "delivered, then replies 'You said: <text>'",
        ),
        ReservedNumber(
            "0106",
            Behaviour("fail", 4432),
            "fails 4432 rejected-forbidden-country (before sending)",
        ),
        ReservedNumber("0107", Behaviour("fail", 5999), "fails 5999 unknown-error (rejected)"),
    )
}

_RESERVED_RE = re.compile(r"^\+1[2-9]\d{2}555(01\d{2})$")


def reserved(tn: str) -> ReservedNumber | None:
    m = _RESERVED_RE.match(tn)
    return RESERVED.get(m.group(1)) if m else None


# --- behaviours (sim_handsets) ---------------------------------------------------------------


async def stored_behaviour(conn: AsyncConnection, tn: str) -> Behaviour | None:
    row = (
        await conn.execute(select(sim_handsets.c.behaviour).where(sim_handsets.c.number == tn))
    ).first()
    return Behaviour.from_json(row.behaviour) if row else None


async def resolve(conn: AsyncConnection, tn: str) -> Behaviour:
    """What the handset `tn` does: a reserved number's fixed behaviour, its script, or deliver."""
    fixed = reserved(tn)
    if fixed is not None:
        return fixed.behaviour
    return await stored_behaviour(conn, tn) or DEFAULT


async def resolve_many(conn: AsyncConnection, tns: Iterable[str]) -> dict[str, Behaviour]:
    """`resolve` for many handsets: one query for the scripted ones."""
    out: dict[str, Behaviour] = {}
    lookup: list[str] = []
    for tn in set(tns):
        fixed = reserved(tn)
        if fixed is not None:
            out[tn] = fixed.behaviour
        else:
            lookup.append(tn)
    for i in range(0, len(lookup), 500):
        chunk = lookup[i : i + 500]
        rows = await conn.execute(
            select(sim_handsets.c.number, sim_handsets.c.behaviour).where(
                sim_handsets.c.number.in_(chunk)
            )
        )
        for number, behaviour in rows:
            out[number] = Behaviour.from_json(behaviour)
    for tn in lookup:
        out.setdefault(tn, DEFAULT)
    return out


async def put_behaviour(conn: AsyncConnection, tn: str, behaviour: Behaviour) -> None:
    values = {"number": tn, "behaviour": behaviour.validate().to_json(), "updated_at": now()}
    ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(sim_handsets)
    await conn.execute(
        ins.values(**values).on_conflict_do_update(
            index_elements=["number"],
            set_={"behaviour": values["behaviour"], "updated_at": values["updated_at"]},
        )
    )


async def delete_behaviour(conn: AsyncConnection, tn: str) -> bool:
    result = await conn.execute(delete(sim_handsets).where(sim_handsets.c.number == tn))
    return result.rowcount > 0


# --- the handsets' record (sim_handset_messages) -----------------------------------------------


@dataclass(frozen=True)
class HandsetMessage:
    id: int
    handset: str
    direction: str
    peer: str
    account_id: str
    message_id: str | None
    text: str
    media: list[Any]
    segments: list[str]
    at: datetime


async def record(
    conn: AsyncConnection,
    *,
    handset: str,
    direction: str,
    peer: str,
    account_id: str,
    message_id: str | None,
    text: str,
    media: list[Any],
    segments_: list[str],
) -> int:
    result = await conn.execute(
        hm.insert()
        .values(
            handset=handset,
            direction=direction,
            peer=peer,
            account_id=account_id,
            message_id=message_id,
            text=text,
            media=media,
            segments=segments_,
            at=now(),
        )
        .returning(hm.c.id)
    )
    return int(result.scalar_one())


async def _row(conn: AsyncConnection, row_id: int) -> HandsetMessage | None:
    row = (await conn.execute(select(hm).where(hm.c.id == row_id))).first()
    return HandsetMessage(**row._mapping) if row else None


async def handset_messages(
    conn: AsyncConnection,
    handset: str,
    account_id: str,
    *,
    direction: str | None = None,
    since: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[HandsetMessage]:
    """The handset's traffic with `account_id`'s numbers, oldest first (the newest `limit`)."""
    conds = [hm.c.handset == handset, hm.c.account_id == account_id]
    conds.append(hm.c.direction == direction if direction else hm.c.direction.in_(VISIBLE))
    if since is not None:
        # Exclusive at the millisecond, the resolution of the times we write: passing a row's
        # `time` back does not return that row again.
        floor = since.replace(microsecond=since.microsecond // 1000 * 1000)
        conds.append(hm.c.at >= floor + timedelta(milliseconds=1))
    if after_id is not None:
        conds.append(hm.c.id > after_id)
    q = select(hm).where(*conds).order_by(hm.c.at.desc(), hm.c.id.desc()).limit(limit)
    rows = [HandsetMessage(**r._mapping) for r in (await conn.execute(q)).all()]
    rows.reverse()
    return rows


# --- media -----------------------------------------------------------------------------------

_MEDIA_PATH = re.compile(r"/users/(?P<account>[^/]+)/media/(?P<media_id>.+)$")


async def platform_media(
    conn: AsyncConnection, account_id: str, urls: tuple[str, ...]
) -> tuple[tuple[MediaItem, ...], tuple[str, ...]]:
    """Split media URLs into the sender's own stored media (as bytes) and other URLs.

    The bytes are handed over because the recipient, in another account perhaps, cannot GET the
    sender's media URL with its own credentials; other URLs are public and pass through as they
    are.
    """
    items: list[MediaItem] = []
    passed: list[str] = []
    at = now()
    for url in urls:
        m = _MEDIA_PATH.search(urlsplit(url).path)
        row = None
        if m and unquote(m.group("account")) == account_id:
            row = await media_repo.get(conn, account_id, unquote(m.group("media_id")), at)
        if row is None:
            passed.append(url)
        else:
            items.append(MediaItem(row.content, row.content_type, row.media_id.rsplit("/")[-1]))
    return tuple(items), tuple(passed)


def sink_from(extras: dict[str, object]) -> CarrierSink | None:
    """core/messaging's sink as wired in AppContext.extras (looked up at call time)."""
    sink = extras.get("messaging_sink")
    if sink is None:
        sink = getattr(extras.get("messaging"), "sink", None)
    return cast(CarrierSink | None, sink)


# --- the carrier -----------------------------------------------------------------------------


class Simulator:
    """The simulated phone network as a Carrier (see network/base.py)."""

    name = CARRIER_NAME

    def __init__(self, *, receipt_timeout_seconds: float = 10.0) -> None:
        self.receipt_timeout = timedelta(seconds=receipt_timeout_seconds)

    async def submit(
        self, conn: AsyncConnection, message: OutboundMessage, sink: CarrierSink
    ) -> None:
        if await numbers.get(conn, message.to) is not None:
            await self._on_net(conn, message, sink)
        else:
            await self._off_net(conn, message, sink)

    async def submit_many(
        self, conn: AsyncConnection, messages: Sequence[OutboundMessage], sink: CarrierSink
    ) -> None:
        """`submit` for a batch, with the same outcome as submitting each in turn.

        The common case (an off-net handset that delivers or fails at once, no auto-reply) is
        batched: one lookup of the numbers, one of the scripts, one insert of the handsets'
        rows, and the reports through `sink.report_many` when the sink has it. Anything else
        (on-net, delays, lost receipts, auto-replies) goes the one-by-one way.
        """
        report_many = getattr(sink, "report_many", None)
        if report_many is None or len(messages) < 2:
            for m in messages:
                await self.submit(conn, m, sink)
            return
        owned = await numbers.owned_among(conn, {m.to for m in messages})
        behaviours = await resolve_many(conn, [m.to for m in messages if m.to not in owned])
        reports: list[StatusReport] = []
        received: list[dict[str, Any]] = []
        at = now()
        for m in messages:
            if m.to in owned:
                await self._on_net(conn, m, sink)
                continue
            b = behaviours[m.to]
            code = b.failure_code
            if b.mode == "never_confirm" or b.delay_seconds > 0 or b.auto_reply is not None:
                await self._off_net(conn, m, sink, b)
                continue
            if m.message_type == "mms":
                reports.append(self._status(m.message_id, m.to, "sending"))
            if code is not None and not reported_after_sending(code):
                reports.append(self._failure(m.message_id, m.to, code))
                continue
            reports.append(self._status(m.message_id, m.to, "sent"))
            if code is not None:
                reports.append(self._failure(m.message_id, m.to, code))
                continue
            received.append(
                {
                    "handset": m.to,
                    "direction": RECEIVED,
                    "peer": m.from_tn,
                    "account_id": m.account_id,
                    "message_id": m.message_id,
                    "text": m.text,
                    "media": list(m.media),
                    "segments": list(m.parts),
                    "at": at,
                }
            )
            reports.append(self._status(m.message_id, m.to, "delivered"))
        await insert_rows(conn, hm, received)
        await report_many(conn, reports)

    # --- on-net: another number of this platform ---

    async def _on_net(self, conn: AsyncConnection, msg: OutboundMessage, sink: CarrierSink) -> None:
        if msg.message_type == "mms":
            await self._report(conn, sink, msg.message_id, msg.to, "sending")
        recipients = msg.all_to or (msg.to,)
        owned = await numbers.owned_among(conn, recipients)
        # The pipeline submits each recipient of a group on its own, but one inbound call gives a
        # copy to every platform recipient: only the first of them hands the message over.
        first = next((tn for tn in recipients if tn in owned), msg.to)
        if msg.to == first:
            items, urls = await platform_media(conn, msg.account_id, msg.media)
            await sink.inbound(
                conn,
                InboundMessage(
                    from_tn=msg.from_tn,
                    to=tuple(recipients),
                    text=msg.text,
                    media=items,
                    segment_count=msg.segment_count,
                    carrier_name=self.name,
                    media_urls=urls,
                ),
            )
        await self._report(conn, sink, msg.message_id, msg.to, "delivered")

    # --- off-net: a virtual handset ---

    async def _off_net(
        self,
        conn: AsyncConnection,
        msg: OutboundMessage,
        sink: CarrierSink,
        behaviour: Behaviour | None = None,
    ) -> None:
        b = behaviour or await resolve(conn, msg.to)
        code = b.failure_code
        if msg.message_type == "mms":
            await self._report(conn, sink, msg.message_id, msg.to, "sending")
        if code is not None and b.mode != "never_confirm" and not reported_after_sending(code):
            # Refused before it leaves (e.g. 4432 forbidden country): failed, never sent.
            await self._fail(conn, sink, msg.message_id, msg.to, code)
            return
        await self._report(conn, sink, msg.message_id, msg.to, "sent")

        def row(direction: str) -> dict[str, Any]:
            return {
                "handset": msg.to,
                "direction": direction,
                "peer": msg.from_tn,
                "account_id": msg.account_id,
                "message_id": msg.message_id,
                "text": msg.text,
                "media": list(msg.media),
                "segments_": list(msg.parts),
            }

        if b.mode == "never_confirm":
            # The handset gets the message; only its receipt is lost.
            row_id = await record(conn, **row(RECEIVED))
            await self._schedule(conn, f"fail:{code}:{row_id}", self.receipt_timeout)
            await self._auto_reply(conn, sink, msg.to, msg.from_tn, msg.account_id, msg.text, b)
        elif code is not None:  # a carrier rejection, learnt after sending
            if b.delay_seconds > 0:
                row_id = await record(conn, **row(FAILING))
                await self._schedule(
                    conn, f"fail:{code}:{row_id}", timedelta(seconds=b.delay_seconds)
                )
            else:
                await self._fail(conn, sink, msg.message_id, msg.to, code)
        elif b.delay_seconds > 0:
            row_id = await record(conn, **row(PENDING))
            await self._schedule(conn, f"deliver:{row_id}", timedelta(seconds=b.delay_seconds))
        else:
            await record(conn, **row(RECEIVED))
            await self._report(conn, sink, msg.message_id, msg.to, "delivered")
            await self._auto_reply(conn, sink, msg.to, msg.from_tn, msg.account_id, msg.text, b)

    # --- later events (sim_event jobs) ---

    async def run_event(self, conn: AsyncConnection, ref: str, sink: CarrierSink) -> None:
        """Run one scheduled event; `ref` is what _schedule wrote. Stale events do nothing."""
        action, _, rest = ref.partition(":")
        if action == "deliver":
            r = await _row(conn, int(rest))
            if r is None or r.direction != PENDING or r.message_id is None:
                return
            await self._set_direction(conn, r.id, RECEIVED)
            await self._report(conn, sink, r.message_id, r.handset, "delivered")
            b = await resolve(conn, r.handset)
            await self._auto_reply(conn, sink, r.handset, r.peer, r.account_id, r.text, b)
        elif action == "fail":
            code_s, _, row_s = rest.partition(":")
            r = await _row(conn, int(row_s))
            if r is None or r.direction not in (FAILING, RECEIVED) or r.message_id is None:
                return
            if r.direction == FAILING:  # a failed message never reached the handset
                await conn.execute(delete(hm).where(hm.c.id == r.id))
            await self._fail(conn, sink, r.message_id, r.handset, int(code_s))
        elif action == "reply":
            r = await _row(conn, int(rest))
            if r is not None and r.direction == OUTBOX:
                await self._send_reply(conn, sink, r)
        else:
            raise ValueError(f"unknown simulator event {ref!r}")

    # --- helpers ---

    def _status(self, message_id: str, to: str, status: Status) -> StatusReport:
        return StatusReport(
            message_id=message_id,
            recipient=to,
            status=status,
            description="ok" if status != "sending" else None,
            carrier_name=self.name,
        )

    def _failure(self, message_id: str, to: str, code: int) -> StatusReport:
        return StatusReport(
            message_id=message_id,
            recipient=to,
            status="failed",
            error_code=code,
            description=describe_error(code),
            carrier_name=self.name,
        )

    async def _report(
        self, conn: AsyncConnection, sink: CarrierSink, message_id: str, to: str, status: Status
    ) -> None:
        await sink.report(conn, self._status(message_id, to, status))

    async def _fail(
        self, conn: AsyncConnection, sink: CarrierSink, message_id: str, to: str, code: int
    ) -> None:
        await sink.report(conn, self._failure(message_id, to, code))

    async def _schedule(self, conn: AsyncConnection, ref: str, after: timedelta) -> None:
        await jobs.enqueue(conn, JOB_KIND, ref, run_at=now() + after)

    async def _set_direction(self, conn: AsyncConnection, row_id: int, direction: str) -> None:
        await conn.execute(
            update(hm).where(hm.c.id == row_id).values(direction=direction, at=now())
        )

    async def _auto_reply(
        self,
        conn: AsyncConnection,
        sink: CarrierSink,
        handset: str,
        platform_tn: str,
        account_id: str,
        received: str,
        b: Behaviour,
    ) -> None:
        # An alphanumeric sender cannot be replied to.
        if b.auto_reply is None or not platform_tn.startswith("+"):
            return
        text = b.auto_reply.replace("{text}", received)[:MAX_TEXT]
        row_id = await record(
            conn,
            handset=handset,
            direction=OUTBOX,
            peer=platform_tn,
            account_id=account_id,
            message_id=None,
            text=text,
            media=[],
            segments_=list(segments.split(text)),
        )
        if b.auto_reply_delay_seconds > 0:
            await self._schedule(
                conn, f"reply:{row_id}", timedelta(seconds=b.auto_reply_delay_seconds)
            )
        else:
            r = await _row(conn, row_id)
            assert r is not None
            await self._send_reply(conn, sink, r)

    async def _send_reply(
        self, conn: AsyncConnection, sink: CarrierSink, r: HandsetMessage
    ) -> None:
        ids = await sink.inbound(
            conn,
            InboundMessage(
                from_tn=r.handset,
                to=(r.peer,),
                text=r.text,
                segment_count=len(r.segments) or 1,
                carrier_name=self.name,
            ),
        )
        await conn.execute(
            update(hm)
            .where(hm.c.id == r.id)
            .values(direction=SENT, message_id=ids[0] if ids else None, at=now())
        )


async def handset_send(
    conn: AsyncConnection,
    sink: CarrierSink,
    *,
    handset: str,
    to: tuple[str, ...],
    owners: dict[str, str],
    text: str,
    media: tuple[MediaItem, ...] = (),
) -> list[str]:
    """A handset texts platform numbers (`owners`: those of `to` on the platform -> account).

    Records the handset's "sent" row for each platform recipient and hands the message to
    core/messaging; returns the inbound message ids (one per platform recipient, in `to` order,
    as the sink returns them).
    """
    mms = bool(media) or len(to) > 1
    parts = [text] if mms else list(segments.split(text))
    ids = await sink.inbound(
        conn,
        InboundMessage(
            from_tn=handset,
            to=to,
            text=text,
            media=media,
            segment_count=len(parts),
            carrier_name=CARRIER_NAME,
        ),
    )
    platform = [tn for tn in to if tn in owners]
    for i, tn in enumerate(platform):
        mid = ids[i] if len(ids) == len(platform) else (ids[0] if len(ids) == 1 else None)
        await record(
            conn,
            handset=handset,
            direction=SENT,
            peer=tn,
            account_id=owners[tn],
            message_id=mid,
            text=text,
            media=[m.name for m in media],
            segments_=parts,
        )
    return ids
