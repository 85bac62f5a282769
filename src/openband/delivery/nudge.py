"""Wake-ups across the processes of one host: "there are new outbox events, claim now".

The delivery processes (delivery/process.py) each listen on a Unix datagram socket named after
their `openband serve` (settings.delivery_namespace, set by the CLI: two servers on one host
and database do not share sockets); a server process sends an empty datagram after a commit
that enqueued events. A nudge is only a hint: if none arrives (nobody listening, a full socket
buffer, another host), the worker's own poll (worker_poll_seconds) still finds the events.
Datagrams need no connection and never block the sender; a send costs a few microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable

log = logging.getLogger(__name__)


def address(namespace: str, index: int) -> str | bytes:
    """The socket of delivery process `index` of one server: in Linux's abstract namespace (no
    file to clean up after a crash), elsewhere a file in the temporary directory."""
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:20]
    name = f"openband-delivery-{digest}-{index}"
    if sys.platform == "linux":
        return b"\0" + name.encode()
    return os.path.join(tempfile.gettempdir(), name + ".sock")


class Nudger:
    """The sending side, in each server process: `wake()` where a DeliveryWorker would be."""

    def __init__(self, namespace: str, processes: int) -> None:
        self.targets = [address(namespace, i) for i in range(processes)]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def wake(self) -> None:
        for target in self.targets:
            # Nobody listening (a delivery process restarting) or its buffer full (it has
            # nudges enough already): either way its poll will find the events.
            with contextlib.suppress(OSError):
                self.sock.sendto(b"", target)

    def close(self) -> None:
        self.sock.close()


class Listener:
    """The receiving side, in a delivery process: calls `on_nudge` once per burst of nudges."""

    def __init__(self, namespace: str, index: int, on_nudge: Callable[[], None]) -> None:
        self.address = address(namespace, index)
        self.on_nudge = on_nudge
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        if isinstance(self.address, str):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
        self.sock.bind(self.address)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        # Drain every queued datagram: one wake-up covers them all.
        try:
            while True:
                self.sock.recv(16)
        except BlockingIOError:
            pass
        except OSError:
            log.warning("nudge socket read failed", exc_info=True)
        self.on_nudge()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()
        if isinstance(self.address, str):
            with contextlib.suppress(OSError):
                os.unlink(self.address)
