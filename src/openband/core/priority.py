"""Accepting comes first: background loops give way to a burst of API requests.

A node's CPU serves both the API (answering 202 means the message is durable) and the work
behind it (send pump, callback delivery). Under a burst, the pipeline's work is better deferred
than the API's answers delayed: the queue is durable, and larger batches later cost less per
message. While requests arrive, each background loop keeps to a share of the time: after a
batch that took `t` seconds it pauses `t * (1/share - 1)`. Without requests, or below that
share, nothing waits. Share 1 turns this off.
"""

from __future__ import annotations

import asyncio
import time

# Requests this recent count as "arriving".
ACTIVE_WINDOW = 0.05
# A pause never exceeds this, so a backlog keeps moving even under a sustained overload.
MAX_PAUSE = 0.5


class AcceptPriority:
    def __init__(self, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self._last = -1e9

    def touch(self) -> None:
        """An API request is being accepted."""
        self._last = time.monotonic()

    @property
    def busy(self) -> bool:
        return time.monotonic() - self._last < ACTIVE_WINDOW

    def pause_for(self, worked: float) -> float:
        if self.share >= 1 or worked <= 0 or not self.busy:
            return 0.0
        return min(MAX_PAUSE, worked * (1 / self.share - 1))

    async def give_way(self, worked: float) -> None:
        """Call after a batch of background work that took `worked` seconds."""
        pause = self.pause_for(worked)
        if pause > 0:
            await asyncio.sleep(pause)
