"""Put a webhook in the durable outbox, inside the transaction of the change that caused it.

The caller decides the URL and the credentials (application InboundCallbackUrl /
OutboundCallbackUrl and their creds, after RequestedCallbackTypes filtering). After its commit
it may call `DeliveryWorker.wake()` so the event goes out without waiting for the next poll.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.ids import event_id as new_event_id
from openband.store import callbacks as repo

DEFAULT_RETRY_HOURS = 24.0


def encode_body(body_events: list[dict[str, Any]] | dict[str, Any], *, array: bool = True) -> str:
    """Messaging callbacks are a JSON array of events; voice callbacks a single object."""
    if isinstance(body_events, dict):
        doc: object = [body_events] if array else body_events
    else:
        if not array and len(body_events) != 1:
            raise ValueError("a non-array body holds exactly one event")
        doc = body_events if array else body_events[0]
    return orjson.dumps(doc).decode()


def _event_type(body_events: list[dict[str, Any]] | dict[str, Any]) -> str:
    first = body_events if isinstance(body_events, dict) else (body_events[:1] or [{}])[0]
    return str(first.get("type") or first.get("eventType") or "unknown")[:64]


async def enqueue(
    conn: AsyncConnection,
    *,
    account_id: str,
    application_id: str | None,
    kind: str,
    url: str,
    body_events: list[dict[str, Any]] | dict[str, Any],
    auth: tuple[str, str] | None,
    ordering_key: str,
    message_id: str | None = None,
    signing_secret: str | None = None,
    array: bool = True,
    retry_hours: float = DEFAULT_RETRY_HOURS,
    event_id: str | None = None,
) -> str:
    """Write one event (the exact body to POST) and return its stable id.

    `retry_hours` is how long delivery keeps trying; pass settings.callback_retry_hours.
    """
    eid = event_id or new_event_id()
    ts = now()
    await repo.enqueue(
        conn,
        [
            repo.NewEvent(
                id=eid,
                account_id=account_id,
                application_id=application_id,
                kind=kind,
                ordering_key=ordering_key,
                event_type=_event_type(body_events),
                url=url,
                payload=encode_body(body_events, array=array),
                expires_at=ts + timedelta(hours=retry_hours),
                message_id=message_id,
                auth_user=auth[0] if auth else None,
                auth_password=auth[1] if auth else None,
                signing_secret=signing_secret or None,
            )
        ],
        at=ts,
    )
    return eid
