"""Enqueue test webhooks through the one way in (delivery/outbox.enqueue)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.delivery import outbox
from openband.sealing import Sealer, generate_key

# Seals the test events' passwords and signing secrets: workers that deliver them open with it.
SEALER = Sealer([generate_key()])


async def enqueue_event(
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
    retry_hours: float = outbox.DEFAULT_RETRY_HOURS,
    sealer: Sealer = SEALER,
) -> str:
    """One event; messaging bodies are a JSON array of events, voice ones a single object."""
    events = [body_events] if isinstance(body_events, dict) else body_events
    doc: object = events if array else events[0]
    first = events[0] if events else {}
    [eid] = await outbox.enqueue(
        conn,
        [
            outbox.Webhook(
                account_id=account_id,
                application_id=application_id,
                kind=kind,
                url=url,
                body=orjson.dumps(doc).decode(),
                event_type=str(first.get("type") or first.get("eventType") or "unknown"),
                ordering_key=ordering_key,
                auth=auth,
                message_id=message_id,
                signing_secret=signing_secret,
            )
        ],
        sealer=sealer,
        retry_hours=retry_hours,
    )
    return eid
