"""The simulated network as a messaging carrier (network/messaging.py).

Outbound messages go one of two ways:
- ON-NET: the recipient is a number in service on this platform (any account). The message is
  handed back to core/messaging as inbound (`sink.inbound`), so two apps on one OpenBand can text
  each other, and the sender gets its receipts (sending for MMS, then delivered).
- OFF-NET: the recipient is a virtual handset. Its behaviour is fixed for the reserved test numbers
  (reserved.py), scripted through /sim/v1/handsets/{number} by the sending account (or a
  platform-wide default the operator set), or the default: deliver. What a
  handset receives and sends is recorded in its log (store/simulator.py).

Everything happens in the sink's unit of work. What happens later (a delayed delivery, a receipt
that never comes, a delayed auto-reply) is a durable timer (`sink.later`) set in that same unit,
whose `on_timer` reports in a later one: a crash loses nothing and repeats nothing. The timer's
state lives in a handset log row whose direction says what is pending (store/simulator.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from openband.network import segments
from openband.network.messaging import (
    MAX_TEXT,
    CarrierSink,
    InboundMessage,
    MediaItem,
    OutboundMessage,
    Status,
    StatusReport,
)
from openband.network.messaging_errors import describe_error, reported_after_sending
from openband.network.sim.behaviours import DEFAULT, Behaviour
from openband.network.sim.reserved import reserved
from openband.store import numbers
from openband.store import simulator as log
from openband.store.db import Transaction

CARRIER_NAME = "OpenBand Simulator"


async def resolve(tx: Transaction, account_id: str, tn: str) -> Behaviour:
    """What the handset `tn` does with `account_id`'s messages: a reserved number's fixed
    behaviour, that account's script, the operator's platform-wide default, or deliver."""
    return (await resolve_many(tx, [(account_id, tn)]))[(account_id, tn)]


async def resolve_many(
    tx: Transaction, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Behaviour]:
    """`resolve` for many (account id, handset) pairs: one query for the scripted ones."""
    out: dict[tuple[str, str], Behaviour] = {}
    lookup: list[tuple[str, str]] = []
    for pair in set(pairs):
        fixed = reserved(pair[1])
        if fixed is not None:
            out[pair] = fixed.behaviour
        else:
            lookup.append(pair)
    if not lookup:
        return out
    stored = await log.scripts(
        tx, {a for a, _ in lookup} | {log.PLATFORM}, {tn for _, tn in lookup}
    )
    for account_id, tn in lookup:
        found = stored.get((account_id, tn)) or stored.get((log.PLATFORM, tn))
        out[(account_id, tn)] = Behaviour.from_json(found) if found is not None else DEFAULT
    return out


def _received(msg: OutboundMessage, direction: str = log.RECEIVED) -> log.NewHandsetMessage:
    return log.NewHandsetMessage(
        handset=msg.to,
        direction=direction,
        peer=msg.sender,
        account_id=msg.account_id,
        message_id=msg.message_id,
        text=msg.text,
        media=list(msg.media),
        segments=list(msg.parts),
    )


class SimulatorMessaging:
    """The simulated phone network as a MessagingCarrier."""

    name = CARRIER_NAME

    def __init__(self, *, receipt_timeout_seconds: float = 10.0) -> None:
        self.receipt_timeout = timedelta(seconds=receipt_timeout_seconds)

    async def submit(self, messages: Sequence[OutboundMessage], sink: CarrierSink) -> None:
        """The common case (an off-net handset that delivers or fails at once, no auto-reply)
        is batched: one lookup of the numbers, one of the scripts, one insert of the handsets'
        rows and one report call. Anything else (on-net, delays, lost receipts, auto-replies)
        is reported as it is handled, in the order given."""
        tx = sink.transaction
        owned = await numbers.owned_among(tx, {m.to for m in messages})
        behaviours = await resolve_many(
            tx, [(m.account_id, m.to) for m in messages if m.to not in owned]
        )
        reports: list[StatusReport] = []
        received: list[log.NewHandsetMessage] = []
        for m in messages:
            if m.to in owned:
                await self._on_net(m, sink, owned)
                continue
            b = behaviours[(m.account_id, m.to)]
            if not b.immediate:
                await self._off_net(m, sink, b)
                continue
            code = b.failure_code
            if m.message_type == "mms":
                reports.append(self._status(m.message_id, m.to, "sending"))
            if code is not None and not reported_after_sending(code):
                reports.append(self._failure(m.message_id, m.to, code))
                continue
            reports.append(self._status(m.message_id, m.to, "sent"))
            if code is not None:
                reports.append(self._failure(m.message_id, m.to, code))
                continue
            received.append(_received(m))
            reports.append(self._status(m.message_id, m.to, "delivered"))
        if received:
            await log.record_many(tx, received)
        if reports:
            await sink.report(reports)

    # --- on-net: another number of this platform ---

    async def _on_net(self, msg: OutboundMessage, sink: CarrierSink, owned: dict[str, str]) -> None:
        if msg.message_type == "mms":
            await self._report(sink, msg.message_id, msg.to, "sending")
        recipients = msg.all_to or (msg.to,)
        missing = [tn for tn in recipients if tn not in owned]
        if missing:
            owned = {**owned, **await numbers.owned_among(sink.transaction, missing)}
        # The pipeline submits each recipient of a group on its own, but one inbound message
        # gives a copy to every platform recipient: only the first of them hands it over.
        first = next((tn for tn in recipients if tn in owned), msg.to)
        if msg.to == first:
            # Media URLs pass as they are: core copies the platform's own media for each
            # recipient (whose credentials could not GET the sender's URL).
            await sink.inbound(
                InboundMessage(
                    sender=msg.sender,
                    to=tuple(recipients),
                    text=msg.text,
                    segment_count=msg.segment_count,
                    carrier_name=self.name,
                    media_urls=msg.media,
                )
            )
        await self._report(sink, msg.message_id, msg.to, "delivered")

    # --- off-net: a virtual handset ---

    async def _off_net(self, msg: OutboundMessage, sink: CarrierSink, b: Behaviour) -> None:
        tx = sink.transaction
        code = b.failure_code
        if msg.message_type == "mms":
            await self._report(sink, msg.message_id, msg.to, "sending")
        if code is not None and b.mode != "never_confirm" and not reported_after_sending(code):
            # Refused before it leaves (e.g. 4432 forbidden country): failed, never sent.
            await self._fail(sink, msg.message_id, msg.to, code)
            return
        await self._report(sink, msg.message_id, msg.to, "sent")
        if b.mode == "never_confirm":
            # The handset gets the message; only its receipt is lost.
            row_id = await log.record(tx, _received(msg))
            await sink.later(self.receipt_timeout, f"fail:{code}:{row_id}")
            await self._auto_reply(sink, msg.to, msg.sender, msg.account_id, msg.text, b)
        elif code is not None:  # a carrier rejection, learnt after sending
            if b.delay_seconds > 0:
                row_id = await log.record(tx, _received(msg, log.FAILING))
                await sink.later(timedelta(seconds=b.delay_seconds), f"fail:{code}:{row_id}")
            else:
                await self._fail(sink, msg.message_id, msg.to, code)
        elif b.delay_seconds > 0:
            row_id = await log.record(tx, _received(msg, log.PENDING))
            await sink.later(timedelta(seconds=b.delay_seconds), f"deliver:{row_id}")
        else:
            await log.record(tx, _received(msg))
            await self._report(sink, msg.message_id, msg.to, "delivered")
            await self._auto_reply(sink, msg.to, msg.sender, msg.account_id, msg.text, b)

    # --- timers ---

    async def on_timer(self, ref: str, sink: CarrierSink) -> None:
        """Run one timer; `ref` is what was set. Stale timers (the row moved on) do nothing."""
        tx = sink.transaction
        action, _, rest = ref.partition(":")
        if action == "deliver":
            r = await log.get(tx, int(rest))
            if r is None or r.direction != log.PENDING or r.message_id is None:
                return
            await log.move(tx, r.id, log.RECEIVED)
            await self._report(sink, r.message_id, r.handset, "delivered")
            b = await resolve(tx, r.account_id, r.handset)
            await self._auto_reply(sink, r.handset, r.peer, r.account_id, r.text, b)
        elif action == "fail":
            code_s, _, row_s = rest.partition(":")
            r = await log.get(tx, int(row_s))
            if r is None or r.direction not in (log.FAILING, log.RECEIVED) or r.message_id is None:
                return
            if r.direction == log.FAILING:  # a failed message never reached the handset
                await log.remove(tx, r.id)
            await self._fail(sink, r.message_id, r.handset, int(code_s))
        elif action == "reply":
            r = await log.get(tx, int(rest))
            if r is not None and r.direction == log.OUTBOX:
                await self._send_reply(sink, r)
        else:
            raise ValueError(f"unknown simulator timer {ref!r}")

    # --- a handset texts the platform ---

    async def handset_send(
        self,
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
        core/messaging; returns the inbound message ids (one per platform recipient, in `to`
        order, as the sink returns them).
        """
        mms = bool(media) or len(to) > 1
        parts = [text] if mms else list(segments.split(text))
        ids = await sink.inbound(
            InboundMessage(
                sender=handset,
                to=to,
                text=text,
                media=media,
                segment_count=len(parts),
                carrier_name=self.name,
            )
        )
        platform = [tn for tn in to if tn in owners]
        for i, tn in enumerate(platform):
            mid = ids[i] if len(ids) == len(platform) else (ids[0] if len(ids) == 1 else None)
            await log.record(
                sink.transaction,
                log.NewHandsetMessage(
                    handset=handset,
                    direction=log.SENT,
                    peer=tn,
                    account_id=owners[tn],
                    message_id=mid,
                    text=text,
                    media=[m.name for m in media],
                    segments=parts,
                ),
            )
        return ids

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

    async def _report(self, sink: CarrierSink, message_id: str, to: str, status: Status) -> None:
        await sink.report((self._status(message_id, to, status),))

    async def _fail(self, sink: CarrierSink, message_id: str, to: str, code: int) -> None:
        await sink.report((self._failure(message_id, to, code),))

    async def _auto_reply(
        self,
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
        row = log.NewHandsetMessage(
            handset=handset,
            direction=log.OUTBOX,
            peer=platform_tn,
            account_id=account_id,
            message_id=None,
            text=text,
            media=[],
            segments=list(segments.split(text)),
        )
        row_id = await log.record(sink.transaction, row)
        if b.auto_reply_delay_seconds > 0:
            await sink.later(timedelta(seconds=b.auto_reply_delay_seconds), f"reply:{row_id}")
        else:
            r = await log.get(sink.transaction, row_id)
            assert r is not None
            await self._send_reply(sink, r)

    async def _send_reply(self, sink: CarrierSink, r: log.HandsetMessage) -> None:
        ids = await sink.inbound(
            InboundMessage(
                sender=r.handset,
                to=(r.peer,),
                text=r.text,
                segment_count=len(r.segments) or 1,
                carrier_name=self.name,
            )
        )
        await log.move(sink.transaction, r.id, log.SENT, ids[0] if ids else None)
