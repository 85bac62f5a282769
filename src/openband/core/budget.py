"""A budget of bytes held at once by requests that must be read whole (a semaphore over sizes).

/sim/v1 bodies carry media inline as base64 in JSON, which is parsed whole: a body, its parsed
text and the decoded bytes are in memory together. Each such request reserves its size before a
byte is read; when the budget is spent it is refused at once (503 with Retry-After) instead of
queueing, so the memory those requests hold is bounded whatever the concurrency.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from openband.errors import CoreError


class Overloaded(CoreError):
    status = 503
    kind = "service-unavailable"

    def __init__(self, description: str, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = retry_after  # whole seconds; each family sends it as Retry-After


class ByteBudget:
    """At most `limit` bytes reserved at once (per process: one event loop, no lock needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        # One request larger than the whole budget still runs, alone.
        size = max(0, min(size, self.limit))
        if self.held + size > self.limit:
            raise Overloaded(
                "Too many large requests in progress on this server; retry in a moment"
            )
        self.held += size
        try:
            yield
        finally:
            self.held -= size
