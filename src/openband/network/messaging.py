"""The messaging carrier interface: what core/messaging hands a carrier and hears back.

A carrier takes recipients' copies of outbound messages, already split into their parts, in
batches. It reports what happens through a CarrierSink (implemented by core/messaging): status
changes (sending, sent, delivered, failed with a Bandwidth error code, network/messaging_errors)
and inbound messages (MO). Nothing here names a database: a sink belongs to one unit of work,
and what a carrier reports through it commits with the hand-off that caused it, or not at all.

A carrier that learns things later asks the sink for a durable timer (`later`), or reports from
its own tasks through a sink of its own unit of work: a crash loses nothing.

The simulator (network/sim) implements this today; an SMPP connector (submit_sm per part,
deliver_sm receipts matched back by message id and part) implements the same methods later
without touching core/.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from openband.store.db import Transaction

Status = Literal["sending", "sent", "delivered", "failed"]

# The longest text one message carries (Bandwidth's limit, in characters).
MAX_TEXT = 2048
# Control characters no message text carries: C0 but TAB, LF, FF (in GSM-7's extension table)
# and CR, and DEL. PostgreSQL refuses NUL in text outright; SQLite's length() stops at it.
CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


# Not frozen (a frozen __init__ pays per field, on the hot path): treat as immutable.
@dataclass(slots=True)
class OutboundMessage:
    """One recipient's copy of an outbound message (a group message is one per recipient)."""

    message_id: str
    account_id: str
    application_id: str | None
    sender: str  # E.164 (or an alphanumeric sender id)
    to: str  # this recipient, E.164
    all_to: tuple[str, ...]  # every recipient of the message (group MMS)
    text: str
    media: tuple[str, ...]  # media URLs as the customer gave them
    parts: tuple[str, ...]  # the text split into segments (what an SMSC receives)
    segment_count: int
    encoding: str  # "GSM-7" | "UCS-2"
    message_type: str  # "sms" | "mms"
    tag: str | None = None
    priority: str = "default"
    expiration: datetime | None = None


@dataclass(slots=True)  # not frozen, like OutboundMessage
class StatusReport:
    message_id: str
    recipient: str
    status: Status
    error_code: int | None = None
    description: str | None = None
    carrier_name: str | None = None


@dataclass(frozen=True)
class MediaItem:
    content: bytes
    content_type: str
    name: str  # file name as the sender gave it (e.g. "image.png")


@dataclass(frozen=True)
class InboundMessage:
    """A message from the network to one or more of the platform's numbers."""

    sender: str
    to: tuple[str, ...]  # every recipient (group MMS); those on this platform get a copy
    text: str
    media: tuple[MediaItem, ...] = ()
    segment_count: int = 1
    carrier_name: str | None = None
    # Media already stored on the platform (on-net MMS): URLs the recipient can GET.
    media_urls: tuple[str, ...] = field(default_factory=tuple)


class CarrierSink(Protocol):
    """Implemented by core/messaging: how a carrier reports back, in one unit of work."""

    @property
    def transaction(self) -> Transaction:
        """The unit of work this sink records in. A carrier whose own state must commit with
        its reports (the simulator's handset log) writes it here, through store/; a carrier on
        a real network keeps its state in its own transactions and never needs this."""
        ...

    async def report(self, reports: Sequence[StatusReport]) -> None:
        """Record reports as if one by one, in this order (a batch costs a few statements)."""
        ...

    async def inbound(self, message: InboundMessage) -> list[str]:
        """Record an inbound message for each platform recipient; returns the message ids."""
        ...

    async def later(self, after: timedelta, ref: str) -> None:
        """Call the carrier's `on_timer(ref, sink)` after `after`, durably: written in this
        unit of work, run once in another (on whichever node is up then)."""
        ...


class MessagingCarrier(Protocol):
    name: str

    async def submit(self, messages: Sequence[OutboundMessage], sink: CarrierSink) -> None:
        """Take recipients' messages; the outcome is as if each were submitted in turn. Report
        through `sink` now, or later (`sink.later`)."""
        ...

    async def on_timer(self, ref: str, sink: CarrierSink) -> None:
        """A timer set with `sink.later` is due; `ref` is what was passed. Stale ones do
        nothing (the state they were set for may have moved on)."""
        ...
