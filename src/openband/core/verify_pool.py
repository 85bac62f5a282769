"""Password checks off the event loop, on a bounded pool.

scrypt costs ~40 ms of CPU by design; run on the event loop, fifty wrong passwords at once
stalled every other request (even /health) for seconds. `hashlib.scrypt` releases the GIL while
OpenSSL works (CPython's _hashopenssl.c wraps EVP_PBE_scrypt in Py_BEGIN_ALLOW_THREADS), so a few
threads run checks in parallel with the loop. At most `threads + queue` checks are in flight;
the next is refused (`VerifyPoolBusy`, a 429) instead of queueing without limit, so a flood of
sign-ins costs bounded memory and CPU. Identical checks in flight (the same stored hash and the
same secret) share one run: a client that fires fifty requests with fresh credentials pays once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from openband.errors import TooMany

# Who waits behind a full pool retries after this many seconds: a check takes ~40 ms, so the
# queue drains well within it.
BUSY_RETRY_SECONDS = 1


class VerifyPoolBusy(TooMany):
    def __init__(self) -> None:
        super().__init__(
            "Too many sign-ins are being checked right now; try again shortly",
            retry_after=BUSY_RETRY_SECONDS,
        )


class VerifyPool:
    def __init__(self, threads: int = 2, queue: int = 64) -> None:
        self._executor = ThreadPoolExecutor(max(1, threads), thread_name_prefix="verify")
        self.limit = max(1, threads) + max(0, queue)
        self.in_flight = 0  # runs submitted and not finished; touched on the loop's thread only
        self._shared: dict[tuple[str, bytes], asyncio.Future[bool]] = {}

    async def run(
        self, key: tuple[str, bytes], check: Callable[[str, str], bool], secret: str, stored: str
    ) -> bool:
        """`check(secret, stored)` on a pool thread; `key` names it for sharing."""
        pending = self._shared.get(key)
        if pending is None:
            if self.in_flight >= self.limit:
                raise VerifyPoolBusy()
            pending = asyncio.wrap_future(self._executor.submit(check, secret, stored))
            self.in_flight += 1
            self._shared[key] = pending
            # Released when the run ends, not when a waiter gives up (a cancelled request):
            # the thread is busy until then either way.
            pending.add_done_callback(lambda _: self._done(key))
        # shield: a cancelled waiter leaves the run (and the others waiting on it) alone
        return await asyncio.shield(pending)

    def _done(self, key: tuple[str, bytes]) -> None:
        self.in_flight -= 1
        self._shared.pop(key, None)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
