"""Small in-process caches for hot-path lookups, and the version that empties them when what
they hold changes on any node."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any


class TtlCache:
    """A small time-bounded memo for hot-path lookups (numbers' locations, limits, apps).

    Concurrent misses of one key share a single lookup: under load, an expiring entry would
    otherwise send every in-flight request to the database at once.
    """

    def __init__(
        self, ttl: float, max_size: int = 20_000, generation: Generation | None = None
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._data: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Future[Any]] = {}
        self.generation = generation
        if generation is not None:
            generation.watch(self)

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self._data.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def put(self, key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        if len(self._data) >= self.max_size:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)

    async def get_or_load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        if self.generation is not None:
            await self.generation.check()
        hit, value = self.get(key)
        if hit:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = fut
        try:
            value = await load()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) get it re-raised
            raise
        finally:
            self._loading.pop(key, None)
        self.put(key, value)
        fut.set_result(value)
        return value

    def clear(self) -> None:
        self._data.clear()


class Generation:
    """A version in the database (store/versions) that every change to the cached facts bumps.

    The caches watching it are emptied when it moves. It is read at most every `interval`
    seconds, by one caller at a time (the others go on with what they hold): a change made in
    any process or node is seen here within `interval` plus one read.
    """

    def __init__(self, read: Callable[[], Awaitable[int]], interval: float) -> None:
        self._read = read
        self.interval = interval
        self._caches: list[TtlCache] = []
        self._version: int | None = None
        self._due = 0.0
        self._reading = False

    def watch(self, cache: TtlCache) -> None:
        self._caches.append(cache)

    async def check(self) -> None:
        mono = time.monotonic()
        if mono < self._due or self._reading:
            return
        self._reading = True
        try:
            version = await self._read()
        finally:
            self._reading = False
            self._due = time.monotonic() + self.interval
        if version != self._version:
            if self._version is not None:
                for cache in self._caches:
                    cache.clear()
            self._version = version


class Lru:
    """A bounded memo, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def put(self, key: str, value: Any) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)
