"""Callback delivery in processes of its own (`openband serve --delivery-processes N`).

Each delivery process runs one DeliveryWorker on the server's database and listens for nudges
(delivery/nudge.py) from the server processes, which then neither claim nor send callbacks. The
outbox is the only thing they share, and its claims are already safe across processes and nodes
(store/callbacks.py), so nothing else changes: the same events, order, retries and leases.

Why: in one process, accepting, sending and delivering share one core. On the 2-core bench
machine one process carried about 1,800 messages/s end to end with callbacks falling behind
under load; with delivery beside it, callbacks kept pace above 2,000/s (docs/benchmarks.md).

The Supervisor, in `openband serve`, starts them, starts again any that exits, and stops them
with the server. They also die with it if it is killed (PR_SET_PDEATHSIG on Linux), and run in
a session of their own so that a Ctrl-C reaches only the server, which then stops them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from openband.config import Settings

log = logging.getLogger("openband.delivery.process")  # not __main__ under `python -m`

PARENT_ENV = "OPENBAND_DELIVERY_PARENT_PID"
STOP_SECONDS = 15.0
# A process that exits sooner than this after its start is started again only after a pause
# that doubles each time (up to RESTART_MAX_PAUSE): a broken configuration must not spin.
HEALTHY_AFTER = 10.0
RESTART_MAX_PAUSE = 30.0


class Supervisor:
    """Starts `count` delivery processes with the server's settings (`env`) and keeps them up."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        self.env = {**os.environ, **env, PARENT_ENV: str(os.getpid())}
        self.count = count
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._started_at = [0.0] * count
        self._failures = [0] * count
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="openband-delivery-supervisor", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)

    def _spawn(self, index: int) -> None:
        # From the supervising thread: PR_SET_PDEATHSIG follows the thread that started a child.
        self.procs[index] = subprocess.Popen(
            [sys.executable, "-m", "openband.delivery.process", str(index)],
            env=self.env,
            start_new_session=True,
        )
        self._started_at[index] = time.monotonic()

    def _run(self) -> None:
        try:
            for i in range(self.count):
                self._spawn(i)
        except OSError:
            log.exception("could not start the delivery processes; retrying")
        finally:
            self._ready.set()
        restart_at = [0.0] * self.count
        while not self._stop.wait(0.2):
            try:
                self._keep_up(restart_at)
            except Exception:  # this thread must outlive any one failure: it is their parent
                log.exception("delivery supervisor error")
        self._terminate()

    def _keep_up(self, restart_at: list[float]) -> None:
        """Start again, after a pause that grows with quick failures, any process that exited."""
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is None:
                continue
            mono = time.monotonic()
            if not restart_at[i]:
                lived = mono - self._started_at[i]
                self._failures[i] = 0 if lived >= HEALTHY_AFTER else self._failures[i] + 1
                pause = max(0.0, min(RESTART_MAX_PAUSE, 0.5 * 2 ** self._failures[i]) - 0.5)
                restart_at[i] = mono + pause
                log.warning(
                    "delivery process %d exited with %s; starting it again in %.1f s",
                    i,
                    proc.returncode if proc is not None else None,
                    pause,
                )
            if mono >= restart_at[i]:
                restart_at[i] = 0.0
                self._spawn(i)

    def _terminate(self) -> None:
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("delivery process %d did not stop; killing it", p.pid)
                p.kill()
                p.wait(5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS + 10)


# --- the delivery process ----------------------------------------------------------------------


def _die_with_parent() -> None:
    """SIGTERM this process when the server that started it dies, even by SIGKILL."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):
        sys.exit(0)  # the server was gone before the death signal was armed


async def serve(settings: Settings, index: int) -> None:
    """Deliver until SIGTERM or SIGINT, then stop as DeliveryWorker.stop does (unsent events'
    claims are released, finished attempts recorded)."""
    from openband.delivery.http import HttpClient
    from openband.delivery.nudge import Listener
    from openband.delivery.worker import DeliveryWorker
    from openband.heap import freeze_heap
    from openband.sealing import Sealer
    from openband.store import secrets
    from openband.store.db import Database

    # The server's keys from the same settings (or its key file); refuse to run with others.
    sealer = Sealer.from_settings(settings)
    db = Database(settings.database_url)
    try:
        async with db.begin() as conn:
            await secrets.check_keys(conn, sealer)
    except BaseException:
        await db.dispose()
        raise
    http = HttpClient.from_settings(settings)
    worker = DeliveryWorker(settings, db, sealer=sealer, http=http)
    listener = None
    if settings.delivery_namespace:
        listener = Listener(settings.delivery_namespace, index, worker.wake)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    freeze_heap()
    worker.start()
    if listener is not None:
        listener.start()
    log.info("delivery process %d started (worker %s)", index, worker.id)
    try:
        await stop.wait()
    finally:
        if listener is not None:
            listener.close()
        await worker.stop()
        await http.close()
        await db.dispose()
        log.info("delivery process %d stopped", index)


def main() -> None:
    from openband import logs
    from openband.config import load_settings

    _die_with_parent()
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    from openband.sealing import SealingError

    try:
        import uvloop  # the loop uvicorn runs the server on
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(serve(settings, index))
    except SealingError as exc:  # the wrong keys: say which setting, not a traceback
        log.error("delivery process %d cannot start: %s", index, exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
