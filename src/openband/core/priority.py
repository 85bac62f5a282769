"""Accepting comes first: background loops give way to a burst of API requests.

A node's CPU serves both the API (answering 202 means the message is durable) and the work
behind it (send pump, callback delivery). When the process runs out of CPU, the pipeline's work
is better deferred than the API's answers delayed: the queue is durable, and larger batches
later cost less per message. So while requests arrive AND the process is saturated (its event
loop's thread wanted the CPU at least SATURATED of the last sample: running, or on Linux also
runnable but waiting for a core that PostgreSQL, a load generator or another process held),
the background loops together keep to a share
of the time: with `n` loops registered, one that just spent `t` seconds on a batch pauses
`t * (n/share - 1)`, and their transactions stay short (BUSY_BATCH rows). Otherwise nothing
waits; share 1 turns this off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# Requests this recent count as "arriving".
ACTIVE_WINDOW = 0.05
# CPU use over the last sample (a fraction of one core) from which the process counts as
# saturated: the event loop is one thread, so beyond this, work waits for the CPU.
SATURATED = 0.9
SAMPLE_SECONDS = 0.1
# A pause never exceeds this, so a backlog keeps moving even under a sustained overload.
MAX_PAUSE = 0.5
# Rows per background transaction while busy: on SQLite an accepting commit waits for the
# write lock behind such a transaction (run on the event loop), so short ones keep the accept
# p99 down. 50 against 100, three interleaved pairs of 10 s SQLite runs: p99 28-39 ms against
# 37-47 ms, at the same or a higher rate.
BUSY_BATCH = 50


def _schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of this thread, from Linux's
    /proc/thread-self/schedstat; None where it is not available."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            run, wait = f.read().split()[:2]
        return int(run) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return None


def cpu_demand_clock() -> Callable[[], float]:
    """A clock of the CPU time this (event loop) thread wanted: time on a core plus time queued
    for one. Time on a core alone misses saturation when other processes share the cores: the
    loop then runs 70 % of the time and waits for a core the rest."""
    if _schedstat() is None:
        return time.process_time

    def demand() -> float:
        got = _schedstat()
        return time.process_time() if got is None else got[0] + got[1]

    return demand


class AcceptPriority:
    def __init__(self, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.loops = 0
        self._last = -1e9
        # Read on the thread that calls `busy` (the event loop's): schedstat is per thread.
        self._clock = cpu_demand_clock()
        self._sample = (time.monotonic(), self._clock())
        self._saturated = False

    def register(self) -> AcceptPriority:
        """A background loop that will call give_way (the share is split between them)."""
        self.loops += 1
        return self

    def touch(self) -> None:
        """An API request is being accepted."""
        self._last = time.monotonic()

    @property
    def busy(self) -> bool:
        """Requests are arriving and the process has no CPU to spare."""
        mono = time.monotonic()
        if mono - self._last >= ACTIVE_WINDOW:
            return False
        return self._cpu_saturated(mono)

    def _cpu_saturated(self, mono: float) -> bool:
        wall0, cpu0 = self._sample
        if mono - wall0 >= SAMPLE_SECONDS:
            cpu = self._clock()
            self._saturated = (cpu - cpu0) / (mono - wall0) >= SATURATED
            self._sample = (mono, cpu)
        return self._saturated

    def batch(self, normal: int) -> int:
        """The batch size a background loop should use now."""
        return min(normal, BUSY_BATCH) if self.busy else normal

    def pause_for(self, worked: float) -> float:
        if self.share >= 1 or worked <= 0 or not self.busy:
            return 0.0
        return min(MAX_PAUSE, worked * (max(1, self.loops) / self.share - 1))

    async def give_way(self, worked: float) -> None:
        """Call after a batch of background work that took `worked` seconds."""
        pause = self.pause_for(worked)
        if pause > 0:
            await asyncio.sleep(pause)
