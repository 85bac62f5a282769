"""Messaging rate limits, counted in segments (Bandwidth's unit), and the send schedule they imply.

Limits live in accounts.limits (JSON). Absent keys mean "no limit":

    messaging_segments_per_second         the account's dequeue rate
    messaging_number_segments_per_second  each sending number's rate
    messaging_queue_seconds               how far ahead the account's queue may reach; beyond it
                                          a new message is refused (429 max-message-queue-size-
                                          exceeded). Bandwidth: 15 minutes of the rate.
    voice_calls_per_second, voice_concurrent_calls, voice_call_queue   (core/voice/limits.py)

Scheduling is a virtual clock per key ("acct:<id>", "tn:<e164>"): a recipient of n segments is
sent at the later of now and each key's next free instant, which then moves on by n / rate. The
next free instants are rows of rate_slots, read and written in the accepting transaction, so the
schedule is durable and shared by every node on the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ACCOUNT_RATE = "messaging_segments_per_second"
NUMBER_RATE = "messaging_number_segments_per_second"
QUEUE_SECONDS = "messaging_queue_seconds"

# Bandwidth's documented defaults (rateLimits.mdx): 1 segment/s per account and per number, a
# queue of 15 minutes of that rate. `openband accounts create --limits bandwidth` applies them.
# Voice (core/voice/limits.py): outbound calls created per second, calls up at once, and how
# many created calls may wait for their turn (Bandwidth: 5 CPS, 100 sessions, CPS x 300).
CALLS_PER_SECOND = "voice_calls_per_second"
CONCURRENT_CALLS = "voice_concurrent_calls"
CALL_QUEUE = "voice_call_queue"
BANDWIDTH_DEFAULTS: dict[str, float] = {
    ACCOUNT_RATE: 1.0,
    NUMBER_RATE: 1.0,
    QUEUE_SECONDS: 900.0,
    CALLS_PER_SECOND: 5.0,
    CONCURRENT_CALLS: 100.0,
    CALL_QUEUE: 1500.0,
}
PRESETS: dict[str, dict[str, float]] = {"bandwidth": BANDWIDTH_DEFAULTS, "none": {}}


@dataclass(frozen=True, slots=True)
class Limits:
    account_rate: float | None = None
    number_rate: float | None = None
    queue_seconds: float | None = None

    @property
    def unlimited(self) -> bool:
        return self.account_rate is None and self.number_rate is None

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Limits:
        raw = raw or {}

        def positive(key: str) -> float | None:
            v = raw.get(key)
            try:
                f = float(v) if v is not None else None
            except (TypeError, ValueError):
                return None
            return f if f is not None and f > 0 else None

        return cls(positive(ACCOUNT_RATE), positive(NUMBER_RATE), positive(QUEUE_SECONDS))


def account_key(account_id: str) -> str:
    return f"acct:{account_id}"


def number_key(tn: str) -> str:
    return f"tn:{tn}"


class QueueFull(Exception):
    """The account's queue reaches further ahead than its limit allows."""


def schedule(
    slots: dict[str, datetime],
    limits: Limits,
    account_id: str,
    from_tn: str,
    segments: int,
    recipients: int,
    at: datetime,
) -> list[datetime]:
    """Send instants for each recipient of one message; updates `slots` (key -> next free).

    Raises QueueFull (leaving `slots` untouched) when the account's backlog would exceed
    queue_seconds. A message is admitted or refused whole: its recipients are not split.
    """
    if limits.unlimited:
        return [at] * recipients
    akey, nkey = account_key(account_id), number_key(from_tn)
    acct_next = max(slots.get(akey, at), at)
    num_next = max(slots.get(nkey, at), at)
    if limits.queue_seconds is not None and limits.account_rate is not None:
        backlog = (acct_next - at).total_seconds() + segments * recipients / limits.account_rate
        # One message always fits an empty queue, however long it is.
        if acct_next > at and backlog > limits.queue_seconds:
            raise QueueFull()
    out: list[datetime] = []
    for _ in range(recipients):
        send_at = max(acct_next, num_next)
        out.append(send_at)
        if limits.account_rate is not None:
            acct_next = send_at + timedelta(seconds=segments / limits.account_rate)
        if limits.number_rate is not None:
            num_next = send_at + timedelta(seconds=segments / limits.number_rate)
    if limits.account_rate is not None:
        slots[akey] = acct_next
    if limits.number_rate is not None:
        slots[nkey] = num_next
    return out
