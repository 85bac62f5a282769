"""Per-account call limits: calls per second, calls up at once, and the outbound queue.

Bandwidth queues created calls and dials them at the account's rate (calls per second); a
create that would make the queue longer than its size is refused with 429, as is a call beyond
the concurrent-call limit (rateLimits.mdx; bandwidth-api.md §3.2). The limits are the account's
(accounts.limits JSON, keys in core/ratelimit.py); an absent key is no limit.

The dial schedule is a virtual clock per account on this node: each created call takes the
next slot, 1/CPS after the previous one. Several nodes each keep their own schedule, so the
account's rate is per node there (docs/api-coverage.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from openband.core import ratelimit
from openband.errors import TooMany


@dataclass(frozen=True, slots=True)
class CallLimits:
    per_second: float | None = None
    concurrent: int | None = None
    queue: int | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> CallLimits:
        raw = raw or {}

        def positive(key: str) -> float | None:
            try:
                v = float(raw[key]) if raw.get(key) is not None else None
            except (TypeError, ValueError):
                return None
            return v if v is not None and v > 0 else None

        concurrent = positive(ratelimit.CONCURRENT_CALLS)
        queue = positive(ratelimit.CALL_QUEUE)
        return cls(
            positive(ratelimit.CALLS_PER_SECOND),
            int(concurrent) if concurrent else None,
            int(queue) if queue else None,
        )


class RateLimited(TooMany):
    """429 with Bandwidth's voice wording; `retry_after` in whole seconds."""


class DialSchedule:
    """When each account's next created call may be dialled (this node's virtual clock)."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    def slot(self, account_id: str, limits: CallLimits, now: float) -> float:
        """Seconds from now until this call may be dialled; RateLimited when the queue is
        full. Takes the slot."""
        rate = limits.per_second
        if rate is None:
            return 0.0
        start = max(now, self._next.get(account_id, now))
        waiting = _queued(start, now, rate)  # calls created before this one, not dialled yet
        if limits.queue is not None and waiting >= limits.queue:
            raise RateLimited(
                "Account call creation rate limit exceeded",
                retry_after=max(1, math.ceil((waiting - limits.queue + 1) / rate)),
            )
        self._next[account_id] = start + 1 / rate
        return start - now

    def waiting(self, account_id: str, limits: CallLimits, now: float) -> int:
        if limits.per_second is None:
            return 0
        return _queued(self._next.get(account_id, now), now, limits.per_second)

    def check_concurrent(self, live: int, limits: CallLimits) -> None:
        if limits.concurrent is not None and live >= limits.concurrent:
            raise RateLimited("Account concurrent call limit exceeded", retry_after=1)


def _queued(start: float, now: float, rate: float) -> int:
    """How many taken slots lie after `now` and before `start` (slots are 1/rate apart, the
    last one 1/rate before `start`): the calls waiting to be dialled."""
    return max(0, math.ceil((start - now) * rate - 1e-9) - 1)
