"""SQLite writers in line for the file's write lock: in this process, then across processes on a
flock beside the database."""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# How long a writer waits in this process's queue before falling back to SQLite's busy handler
# (the same bound as PRAGMA busy_timeout): a nested writer never deadlocks, it fails as before.
SQLITE_WRITE_WAIT = 10.0


class _WriterQueue:
    """This process's writers on one SQLite file, in line for its write lock.

    Across processes (`openband serve --workers N`), the queue's holder also takes an exclusive
    flock on `<db>.writers`: a writer of another process then waits in the kernel and wakes the
    moment the lock is free, where SQLite's own lock would have it retry with growing sleeps
    (the tail latency of several workers on one file). The CLI does not take it: SQLite's busy
    handling still serialises it with the server.
    """

    __slots__ = ("__weakref__", "fd", "lock", "owner")

    def __init__(self, key: str) -> None:
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[object] | None = None
        self.fd: int | None = None
        if fcntl is not None and key and key != ":memory:":
            try:
                self.fd = os.open(f"{key}.writers", os.O_RDWR | os.O_CREAT, 0o600)
                weakref.finalize(self, os.close, self.fd)
            except OSError:
                log.warning("no cross-process writer lock beside %s", key, exc_info=True)

    async def acquire_file(self) -> None:
        fd = self.fd
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        # Another process writes: wait in a thread. If we are cancelled meanwhile, the thread
        # still ends up holding the lock, so it is released as soon as it is taken.
        waiter = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            waiter.add_done_callback(lambda f: f.cancelled() or self.release_file())
            raise

    def release_file(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


# One queue per event loop and SQLite file, shared by every Database of this process on it.
_writer_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _WriterQueue]] = (
    weakref.WeakKeyDictionary()
)


def _writer_key(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path and path != ":memory:" else path


def _writer_queue(key: str) -> _WriterQueue:
    per_loop = _writer_queues.setdefault(asyncio.get_running_loop(), {})
    queue = per_loop.get(key)
    if queue is None:
        queue = per_loop[key] = _WriterQueue(key)
    return queue


@asynccontextmanager
async def _writer_turn(key: str) -> AsyncIterator[None]:
    """Held while this task writes to the SQLite file `key` (see `Database`)."""
    queue = _writer_queue(key)
    task = asyncio.current_task()
    if task is not None and task is queue.owner:
        yield  # nested in this task's own write: SQLite decides, as before
        return
    try:
        async with asyncio.timeout(SQLITE_WRITE_WAIT):
            await queue.lock.acquire()
    except TimeoutError:
        log.warning(
            "SQLite writer queued %.0f s in-process; trying without the queue",
            SQLITE_WRITE_WAIT,
        )
        yield
        return
    try:
        await queue.acquire_file()
    except BaseException:
        queue.lock.release()
        raise
    queue.owner = task
    try:
        yield
    finally:
        queue.owner = None
        queue.release_file()
        queue.lock.release()
