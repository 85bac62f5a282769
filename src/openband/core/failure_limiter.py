"""Failed sign-ins counted per key (a client address, a username) over a sliding window.

Past a key's threshold, the key is blocked for a backoff that doubles with each block in a row
(capped); a blocked key is refused before any password is checked, so a spray costs no CPU.
Counting is in this process only: each node (and each `serve --workers` process) keeps its own
counts, which bounds an attacker per node, not per cluster.

The window is the usual two-bucket estimate: the failures of the current window plus those of
the previous one weighted by how much of it still overlaps the sliding window. It needs a few
numbers per key instead of a timestamp per failure; the table holds at most `max_entries` keys,
least recently failed out first, and forgets a key once it has been quiet for a window after
its last block.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from openband.errors import TooMany


class SignInThrottled(TooMany):
    """Refused without checking the password: too many recent failures from this client or for
    this username. `retry_after` is whole seconds until the block ends."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            "Too many failed sign-ins; try again later",
            retry_after=max(1, math.ceil(seconds)),
        )


@dataclass(frozen=True)
class Rule:
    threshold: int  # failures within the window that start a block
    window: float  # seconds


class _Entry:
    __slots__ = ("blocked_until", "current", "previous", "start", "strikes", "touched")

    def __init__(self, now: float) -> None:
        self.start = now  # when the current bucket began
        self.current = 0
        self.previous = 0
        self.blocked_until = 0.0
        self.strikes = 0  # blocks in a row: the next lasts base * 2**strikes
        self.touched = now


class FailureLimiter:
    def __init__(
        self,
        rules: dict[str, Rule],
        *,
        backoff: float,
        backoff_max: float,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules  # by the key's kind ("source", "username")
        self.backoff = backoff
        self.backoff_max = max(backoff, backoff_max)
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def blocked_for(self, key: tuple[str, str]) -> float:
        """Seconds left of `key`'s block; 0 when it may try."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.blocked_until - self.clock())

    def fail(self, key: tuple[str, str]) -> bool:
        """Count a failure against `key`; True when it starts a block."""
        rule = self.rules[key[0]]
        now = self.clock()
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(now)
            self._prune(now)
        else:
            self._entries.move_to_end(key)
            if entry.blocked_until > now:
                return False  # already blocked: the block stands as it is
        if now - max(entry.touched, entry.blocked_until) >= rule.window:
            entry.strikes = 0  # quiet for a window since its last block: start over
        entry.touched = now
        elapsed = int((now - entry.start) // rule.window)
        if elapsed:
            entry.previous = entry.current if elapsed == 1 else 0
            entry.current = 0
            entry.start += elapsed * rule.window
        entry.current += 1
        overlap = 1.0 - (now - entry.start) / rule.window
        if entry.current + entry.previous * overlap < rule.threshold:
            return False
        entry.blocked_until = now + min(self.backoff * 2**entry.strikes, self.backoff_max)
        entry.strikes += 1
        entry.current = entry.previous = 0
        return True

    def reset(self, key: tuple[str, str]) -> None:
        """Forget `key`'s failures and blocks (a username that signed in)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _prune(self, now: float) -> None:
        """Drop keys quiet for a window after their last block (oldest first), then the least
        recently failed beyond the cap."""
        entries = self._entries
        while entries:
            key, entry = next(iter(entries.items()))
            quiet = self.rules[key[0]].window
            if now - max(entry.touched, entry.blocked_until) < quiet:
                break
            del entries[key]
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
