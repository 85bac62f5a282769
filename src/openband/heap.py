"""Tuning the cyclic garbage collector for a long-running server process (each process calls
`freeze_heap` once what it builds at start is built), and how much freed memory it keeps
(`return_large_buffers`, once at start)."""

from __future__ import annotations

import contextlib
import ctypes
import gc

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BUFFER = 128 * 1024


def return_large_buffers() -> None:
    """Allocations of LARGE_BUFFER and more (request bodies, media pieces) get pages of their
    own that go back to the OS when freed.

    glibc raises this threshold each time such a buffer is freed, up to 32 MB, after which big
    buffers come from the heap and stay in the process: 40 parallel 4.9 MB handset posts kept
    423 MB (issue 12); with the threshold fixed, RSS returns to where it was (docs/security.md,
    "Media"). Nothing happens where the C library has no mallopt (it is glibc's)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, LARGE_BUFFER)


def freeze_heap(_task: object = None) -> None:
    """Move everything built at start (modules, the exchange index) out of the cyclic GC's view,
    and collect less often.

    A full collection otherwise rescans those long-lived objects every time, a 30-50 ms pause
    that lands on whichever request is running: the p99 of searches and message accepts.
    """
    gc.collect()
    gc.freeze()
    # The hot paths allocate many short-lived objects (rows, events, responses); at Python's
    # default (700 allocations per young collection) collections ran so often, and full ones over
    # the caches so long, that they set the accept p99 (measured: 2,900 accepted/s with p99 305 ms
    # at the default, 5,100/s with p99 37 ms here; RSS +16 MB). Cycles are still collected.
    gc.set_threshold(50_000, 20, 100)
