"""Message statuses and the transitions between them (the error codes: network/messaging_errors)."""

from __future__ import annotations

# The error table is the carrier interface's: one definition, re-exported for core's callers.
from openband.network.messaging_errors import (
    E_EXPIRED,
    E_MEDIA_UNAVAILABLE,
    E_UNKNOWN,
    ERROR_DESCRIPTIONS,
    describe_error,
)

STATUSES = (
    "RECEIVED",
    "QUEUED",
    "SENDING",
    "SENT",
    "FAILED",
    "DELIVERED",
    "ACCEPTED",
    "UNDELIVERED",
)
DIRECTIONS = ("INBOUND", "OUTBOUND")
MESSAGE_TYPES = ("sms", "mms", "rcs")

# Which statuses a recipient may move from to reach each status: forward only, and one terminal
# outcome (delivered or failed) per recipient. Anything else is a duplicate or a regression.
FORWARD: dict[str, tuple[str, ...]] = {
    "SENDING": ("QUEUED",),
    "SENT": ("QUEUED", "SENDING"),
    "DELIVERED": ("QUEUED", "SENDING", "SENT"),
    "FAILED": ("QUEUED", "SENDING", "SENT"),
}
CALLBACK_TYPES = {
    "SENDING": "message-sending",
    "DELIVERED": "message-delivered",
    "FAILED": "message-failed",
}


__all__ = [
    "CALLBACK_TYPES",
    "DIRECTIONS",
    "ERROR_DESCRIPTIONS",
    "E_EXPIRED",
    "E_MEDIA_UNAVAILABLE",
    "E_UNKNOWN",
    "FORWARD",
    "MESSAGE_TYPES",
    "STATUSES",
    "describe_error",
]
