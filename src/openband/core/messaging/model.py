"""What messaging takes and gives: typed values, no wire format.

Each API family turns its request into a SendRequest and renders Message and MessageEvent in its
own shape (Messaging v2 today: api/messaging_v2/wire.py; v1 next). Callbacks are rendered when
they are enqueued, by the family's CallbackFormat that wiring hands the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# The message itself is the store's row type, as it is: core takes and gives it, the families
# render it (no copy per message on the hot paths).
from openband.store.messages import Message

__all__ = ["CallbackFormat", "Field", "Message", "MessageEvent", "SendRequest"]


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


# Not frozen (a frozen __init__ pays per field, on the hot path): treat as immutable.
@dataclass(slots=True)
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
