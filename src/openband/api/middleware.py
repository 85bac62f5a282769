"""Request ids and one structured log line per request (pure ASGI: no per-request task)."""

from __future__ import annotations

import logging
import random
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("openband.request")
# Request ids need to be unique, not secret: a PRNG seeded from os.urandom, no syscall per request.
_ids = random.Random()


def new_request_id() -> str:
    return f"{_ids.getrandbits(64):016x}"


def log_requests() -> bool:
    return log.isEnabledFor(logging.INFO)


def log_request(scope: Scope, rid: str, status: int, start: float) -> None:
    """The one line per request (RequestLog's, and the hot path's in api/messaging_v2)."""
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
        rid = rid or new_request_id()
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
            if log_requests():
                log_request(scope, rid, status, start)
