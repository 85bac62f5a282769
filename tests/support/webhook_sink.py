"""A real webhook receiver on 127.0.0.1 (random port) for delivery tests.

Each path can be scripted: `sink.script("/x", ["500", "reset", "sleep:1", "200"])` answers the
n-th request on /x with the n-th entry (the last one repeats). It records every request and
notices when one event id is being handled twice at the same time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: str


@dataclass
class Sink:
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[str]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # event id -> concurrent handlers
    overlaps: list[str] = field(default_factory=list)
    delay: float = 0.0  # every request waits this long (to widen overlap windows)
    _runner: web.AppRunner | None = None
    port: int = 0
    host: str = "127.0.0.1"  # another loopback address (127.0.0.2) stands for a second machine

    def script(self, path: str, answers: list[str]) -> None:
        self.scripts[path] = answers

    def url(self, path: str = "/cb") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def ok_on(self, path: str) -> list[Received]:
        return [r for r in self.on(path) if r.answered.startswith("2")]

    async def start(self, port: int = 0) -> Sink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        n = self.hits[path]
        self.hits[path] += 1
        answers = self.scripts.get(path, ["200"])
        answer = answers[min(n, len(answers) - 1)]
        body = await request.read()
        eid = request.headers.get("X-OpenBand-Event-Id", "")
        if eid:
            if self.in_flight[eid]:
                self.overlaps.append(eid)
            self.in_flight[eid] += 1
        try:
            self.requests.append(Received(path, dict(request.headers), body, time.time(), answer))
            if self.delay:
                await asyncio.sleep(self.delay)
            if answer.startswith("sleep:"):
                await asyncio.sleep(float(answer.split(":", 1)[1]))
                return web.Response(status=200)
            if answer == "reset":
                assert request.transport is not None
                request.transport.abort()
                return web.Response(status=200)
            if answer.startswith("redirect:"):
                raise web.HTTPFound(answer.split(":", 1)[1])
            if answer == "big":
                return web.Response(status=200, body=b"x" * 500_000)
            return web.Response(status=int(answer), text="ok")
        finally:
            if eid:
                self.in_flight[eid] -= 1


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
