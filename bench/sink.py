"""The benchmarks' callback sink: a bare asyncio protocol with httptools (uvicorn's HTTP parser)
on uvloop, so that the sink is not what a benchmark measures.

    python bench/sink.py PORT        # or start() from a benchmark

Every request but GET /stats is answered 204 at once and counted; GET /stats answers
{"count", "first", "last"} (wall-clock times of the first and the last counted request).
An aiohttp web sink answered about 7,000 requests/s on one core of the 2-core bench machine and
was then the limit of the delivery figures; this one answers several times that.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

import httptools

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
NO_CONTENT_CLOSE = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"


class Stats:
    count = 0
    first = 0.0
    last = 0.0


class _Sink(asyncio.Protocol):
    __slots__ = ("parser", "transport", "url")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        if self.url.startswith(b"/stats"):
            body = json.dumps(
                {"count": Stats.count, "first": Stats.first, "last": Stats.last}
            ).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n%s\r\n%s"
                % (len(body), b"" if keep else b"Connection: close\r\n", body)
            )
        else:
            Stats.count += 1
            Stats.last = time.time()
            if Stats.count == 1:
                Stats.first = Stats.last
            self.transport.write(NO_CONTENT if keep else NO_CONTENT_CLOSE)
        self.url = b""
        if not keep:
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Sink, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


def start(port: int) -> subprocess.Popen[bytes]:
    """The sink in a process of its own, listening on `port` when this returns."""
    proc = subprocess.Popen([sys.executable, __file__, str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"sink did not open port {port}")


if __name__ == "__main__":
    import uvloop

    uvloop.run(serve(int(sys.argv[1])))
