"""The carrier edge interface: what core/messaging hands to a carrier and hears back.

A carrier receives one recipient's message at a time, already split into its parts, inside the
pipeline's transaction. It reports what happens through a CarrierSink (implemented by
core/messaging): status changes (sending, sent, delivered, failed with a Bandwidth error code)
and inbound messages (MO). A carrier that learns things later (a delayed DLR, an SMPP deliver_sm)
records them durably and reports in a later transaction, so a crash loses nothing.

The simulator (network/simulator.py) implements this today; an SMPP connector (submit_sm per part,
deliver_sm receipts matched back by message id and part) implements the same methods later
without touching core/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

Status = Literal["sending", "sent", "delivered", "failed"]


# Not frozen (a frozen __init__ pays per field, on the hot path): treat as immutable.
@dataclass(slots=True)
class OutboundMessage:
    """One recipient's copy of an outbound message (a group message is one per recipient)."""

    message_id: str
    account_id: str
    application_id: str | None
    from_tn: str  # E.164 (or an alphanumeric sender id)
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

    from_tn: str
    to: tuple[str, ...]  # every recipient (group MMS); those on this platform get a copy
    text: str
    media: tuple[MediaItem, ...] = ()
    segment_count: int = 1
    carrier_name: str | None = None
    # Media already stored on the platform (on-net MMS): URLs the recipient can GET.
    media_urls: tuple[str, ...] = field(default_factory=tuple)


class CarrierSink(Protocol):
    """Implemented by core/messaging: how a carrier reports back, inside a transaction."""

    async def report(self, conn: AsyncConnection, report: StatusReport) -> None: ...

    async def inbound(self, conn: AsyncConnection, message: InboundMessage) -> list[str]:
        """Record an inbound message for each platform recipient; returns the message ids."""
        ...


class Carrier(Protocol):
    name: str

    async def submit(
        self, conn: AsyncConnection, message: OutboundMessage, sink: CarrierSink
    ) -> None:
        """Take one recipient's message. Report through `sink` now or durably later."""
        ...
