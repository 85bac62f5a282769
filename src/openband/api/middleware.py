"""Request ids and one structured log line per request, and the hot routes served ahead of the
router (pure ASGI: no per-request task)."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("openband.request")
# Request ids need to be unique, not secret: a PRNG seeded from os.urandom, no syscall per request.
_ids = random.Random()


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                rid = value.decode("latin-1")[:64]
                break
        rid = rid or f"{_ids.getrandbits(64):016x}"
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if log.isEnabledFor(logging.INFO):
                self._log(scope, rid, status, start)

    @staticmethod
    def _log(scope: Scope, rid: str, status: int, start: float) -> None:
        principal = scope.get("state", {}).get("principal")
        log.info(
            "%s %s %s",
            scope["method"],
            scope["path"],
            status,
            extra={
                "request_id": rid,
                "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 2),
                "account": getattr(principal, "account_id", None),
            },
        )


class FastRoutes:
    """Serve a few hot (method, path) pairs straight from ASGI, ahead of the router.

    FastAPI's routing (matching the long route lists, parameter and dependency handling) was a
    third of the accept path's CPU; these endpoints parse their own parameters. Everything else,
    and every request these do not match, goes on to the application as before.
    """

    def __init__(
        self, app: ASGIApp, routes: Sequence[tuple[str, re.Pattern[str], ASGIApp]]
    ) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for m, pattern, endpoint in self.routes:
                if m == method and pattern.match(path):
                    await endpoint(scope, receive, send)
                    return
        await self.app(scope, receive, send)
