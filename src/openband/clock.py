"""Time: UTC, written as Bandwidth writes it (ISO-8601 with milliseconds and `Z`), and the
injected clock that timers run on.

`now`, `iso` and `parse_iso` are plain functions for code that only stamps rows. Code that waits
(the call engine's deadlines, the voice simulator's rings and playbacks) takes a `Clock` instead:
`RealClock` in the server, `VirtualClock` in tests, which runs timers in deterministic order
without sleeping, so an hour of calls takes milliseconds and every run takes the same path.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    # SQLite hands back naive datetimes; they are UTC by construction.
    if dt.tzinfo is not None and dt.utcoffset():
        dt = dt.astimezone(UTC)
    # isoformat is C and 4-digit years keep the offset (or its absence) beyond character 23: a
    # fifth of strftime's cost, on every 202 body and callback.
    return dt.isoformat(timespec="milliseconds")[:23] + "Z"


def iso_duration(seconds: float) -> str:
    """A duration as ISO-8601, as Bandwidth writes a recording's: PT4.98S."""
    return f"PT{round(seconds, 3):g}S"


def parse_iso(value: str) -> datetime:
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# --- the injected clock ---------------------------------------------------------------------------


class Timer(Protocol):
    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it already ran)."""
        ...


class Clock(Protocol):
    """Wall time, a monotonic reading, and timers. Callbacks are plain functions called on the
    event loop; one that needs to await starts a task."""

    def now(self) -> datetime:
        """The current time, UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back. Measure durations with it."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` once `delay` seconds from now (a negative delay means now)."""
        ...


class RealClock:
    """The server's clock: asyncio's timers, the system's time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], object]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that moves only when told to (`advance`, `run_until_idle`).

    Timers are kept on a heap ordered by (deadline, order of scheduling). Advancing runs the due
    ones in that order, with now() at each one's deadline; after each, the event loop runs the
    tasks the callback started until nothing is ready, so a timer set by one of those tasks for
    a deadline still within the advance runs in the same advance, as it would in real time.

    A callback that raises stops the advance and the exception propagates: tests see it at once
    (asyncio would only log it).
    """

    # Loop turns allowed per settle: a task chain that never goes idle (a busy loop of
    # sleep(0)) is a bug in the code under test, not a reason to hang the test run.
    MAX_SPINS = 10_000
    # Without access to the loop's ready queue (another loop implementation), settle by a fixed
    # number of turns instead.
    BLIND_SPINS = 64

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware (UTC) start time")
        self._start = start.astimezone(UTC)
        self._offset = 0.0
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        return self._offset

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = _VirtualTimer(self._offset + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.deadline, next(self._order), timer))
        return timer

    @property
    def pending(self) -> int:
        """How many timers are set and not cancelled."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def next_deadline(self) -> float | None:
        """The monotonic() reading of the next live timer, if any."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        target = self._offset + seconds
        await self._settle()  # what was started before the advance runs at the current time
        while True:
            self._drop_cancelled()
            if not self._heap or self._heap[0][0] > target:
                break
            deadline, _, timer = heapq.heappop(self._heap)
            self._offset = max(self._offset, deadline)
            timer.cancelled = True  # ran: a later cancel() is a no-op
            timer.callback()
            await self._settle()
        self._offset = target

    async def run_until_idle(self, limit: float = 3600) -> None:
        """Advance from timer to timer until none is left, or until `limit` seconds from now
        have passed (a periodic timer never lets the clock go idle)."""
        end = self._offset + limit
        await self._settle()
        while (deadline := self.next_deadline()) is not None and deadline <= end:
            await self.advance(deadline - self._offset)

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)

    async def _settle(self) -> None:
        """Let the tasks that are ready run until none is (bounded)."""
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        if ready is None:
            for _ in range(self.BLIND_SPINS):
                await asyncio.sleep(0)
            return
        for _ in range(self.MAX_SPINS):
            await asyncio.sleep(0)
            # We run from the loop's ready queue: when it is empty on our turn, every other task
            # is waiting on something only a timer (or real I/O) can bring.
            if not ready:
                return
