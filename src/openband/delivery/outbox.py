"""Put webhooks in the durable outbox, inside the transaction of the change that caused them.

The one way in: the caller (core) decides where each goes and with which credentials, and the
API family has already rendered its exact body. After its commit the caller wakes delivery
(DeliveryWorker.wake, or a nudge to the delivery processes) so they go out without waiting
for a poll.

A webhook's password and signing secret are stored sealed (sealing.py); the delivery worker
opens them just before sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.ids import event_id
from openband.sealing import Sealer
from openband.store import callbacks as repo

DEFAULT_RETRY_HOURS = 24.0


@dataclass(slots=True)
class Webhook:
    """One callback to send: the exact body (JSON text), where it goes and how it is ordered."""

    account_id: str
    application_id: str | None
    kind: str  # "messaging" | "voice"
    url: str
    body: str
    event_type: str  # for listings and logs, e.g. "message-delivered"
    ordering_key: str  # events with one key go out in order (store/callbacks.message_key)
    auth: tuple[str, str] | None = None  # Basic auth (user, password), plaintext
    message_id: str | None = None
    signing_secret: str | None = None  # plaintext: the HMAC key (delivery/signing.py)


async def enqueue(
    conn: AsyncConnection,
    webhooks: Sequence[Webhook],
    *,
    sealer: Sealer,
    retry_hours: float = DEFAULT_RETRY_HOURS,
    at: datetime | None = None,
) -> list[str]:
    """Write the webhooks (one statement) and return their stable event ids, in order.

    `sealer` seals each password and signing secret for the row. `retry_hours` is how long
    delivery keeps trying: pass settings.callback_retry_hours.
    """
    ts = at or now()
    expires = ts + timedelta(hours=retry_hours)
    seal = sealer.seal
    events = [
        repo.NewEvent(
            id=event_id(),
            account_id=w.account_id,
            application_id=w.application_id,
            kind=w.kind,
            ordering_key=w.ordering_key,
            event_type=w.event_type[:64],
            url=w.url,
            payload=w.body,
            expires_at=expires,
            message_id=w.message_id,
            auth_user=w.auth[0] if w.auth else None,
            # An empty password is still sent (user with no password): sealed like any other.
            auth_password=seal(w.auth[1]) if w.auth else None,
            signing_secret=seal(w.signing_secret) if w.signing_secret else None,
        )
        for w in webhooks
    ]
    await repo.enqueue(conn, events, at=ts)
    return [ev.id for ev in events]
