"""Which lines of an exchange the generated inventory offers.

`inventory_lines_per_exchange` of 0000-9999, taken from one keyed permutation of the 10,000 lines
(key: `inventory_seed`) at a per-exchange keyed offset, so membership is O(1) and exchanges differ.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

LINES = 10_000


def _h64(key: bytes, data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, key=key, digest_size=8).digest())


@lru_cache(maxsize=4)
def _permutation(seed: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A keyed permutation P of 0..9999 (doubled, for wrap-around slices) and its inverse."""
    key = hashlib.blake2b(seed.encode(), digest_size=32).digest()
    perm = sorted(range(LINES), key=lambda n: _h64(key, b"line:%d" % n))
    inverse = [0] * LINES
    for pos, n in enumerate(perm):
        inverse[n] = pos
    return tuple(perm + perm), tuple(inverse)


class Offer:
    """The offered lines of every exchange for one (seed, lines-per-exchange)."""

    def __init__(self, seed: str, per_exchange: int) -> None:
        self.n = per_exchange
        self.key = hashlib.blake2b(seed.encode(), digest_size=32).digest()
        self.perm2, self.inverse = _permutation(seed)
        self._sorted: dict[str, list[int]] = {}

    def offset(self, npanxx: str) -> int:
        return _h64(self.key, b"x:" + npanxx.encode()) % LINES

    def has(self, npanxx: str, line: int) -> bool:
        return (self.inverse[line] - self.offset(npanxx)) % LINES < self.n

    def lines(self, npanxx: str) -> list[int]:
        """The exchange's offered lines, ascending."""
        got = self._sorted.get(npanxx)
        if got is None:
            if self.n >= LINES:
                got = list(range(LINES))
            else:
                k = self.offset(npanxx)
                got = sorted(self.perm2[k : k + self.n])
            if len(self._sorted) > 4096:  # bounded: hot exchanges stay, memory does not grow
                self._sorted.clear()
            self._sorted[npanxx] = got
        return got
