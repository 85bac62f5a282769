"""What messaging takes and gives: typed values, no wire format.

Each API family turns its request into a SendRequest and renders Message and MessageEvent in its
own shape (Messaging v2 today: api/messaging_v2/wire.py; v1 next). Callbacks are rendered when
they are enqueued, by the family's CallbackFormat that wiring hands the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Field:
    """The create request's fields, as core names them in errors; each family maps them to its
    own names (v2: application_id -> applicationId)."""

    BODY = "body"
    APPLICATION = "application_id"
    TO = "to"
    FROM = "from"
    TEXT = "text"
    MEDIA = "media"
    TAG = "tag"
    PRIORITY = "priority"
    EXPIRATION = "expiration"


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A create-message request, its values already of the right types (the family checked
    the wire's types); core checks the rules (validation.py)."""

    application_id: str | None
    sender: str | None
    to: tuple[str, ...]
    text: str = ""
    media: tuple[str, ...] = ()
    tag: str | None = None
    priority: str | None = None
    expiration: str | None = None  # RFC 3339, as given


# Not frozen (a frozen __init__ pays per field, on the hot path): treat as immutable.
@dataclass(slots=True)
class Message:
    """A message as the platform keeps it: in every create answer and callback."""

    id: str
    owner: str  # the account's number: the sender (out) or the recipient (in)
    application_id: str | None
    time: datetime
    segment_count: int
    direction: str  # "in" | "out"
    to: tuple[str, ...]
    sender: str
    text: str
    media: tuple[str, ...]
    tag: str | None = None
    priority: str | None = None
    expiration: datetime | None = None


@dataclass(slots=True)
class MessageEvent:
    """A callback event: message-received, -sending, -delivered or -failed."""

    type: str
    time: datetime
    description: str
    to: str  # the recipient this event is about
    message: Message
    error_code: int | None = None
    carrier_name: str | None = None


class CallbackFormat(Protocol):
    """An API family's rendering of a callback: the exact body to POST."""

    def callback_body(self, event: MessageEvent) -> str: ...
