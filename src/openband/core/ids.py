"""Identifiers in Bandwidth's shapes, so SDKs and user code that parse them keep working."""

from __future__ import annotations

import secrets
import string
import time
import uuid

_ALNUM = string.ascii_lowercase + string.digits


def application_id() -> str:
    return str(uuid.uuid4())


def order_id() -> str:
    return str(uuid.uuid4())


def message_id() -> str:
    """Like `1589228074636lm4k2je7j7jklbn2`: epoch millis then 17 random base-36 characters."""
    return f"{int(time.time() * 1000)}{''.join(secrets.choice(_ALNUM) for _ in range(17))}"


def call_id() -> str:
    """Like `c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85`."""
    return f"c-{secrets.token_hex(4)}-{uuid.uuid4()}"


def token(nbytes: int = 18) -> str:
    return secrets.token_urlsafe(nbytes)
