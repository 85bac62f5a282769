"""Request ids, one structured log line per request, and the security headers of every answer
(pure ASGI: no per-request task)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("openband.request")
# Request ids need to be unique, not secret: a PRNG seeded from os.urandom, no syscall per request.
_ids = random.Random()

# The API origin serves accounts' media (an HTML file someone texted you included): nothing it
# answers may run script, load anything, submit forms, be framed or be sniffed into another type.
# `sandbox` gives a rendered document an opaque origin of its own. A web console must live on
# another origin (docs/security.md, "Media").
API_CSP = (
    b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)
# FastAPI's /docs (Swagger UI) and /redoc pages: their viewer comes from jsDelivr and is started
# by an inline script; they show OpenBand's own OpenAPI document, no user content. Still never
# framed, and they reach no origin but these and the API itself.
DOCS_CSP = (
    b"default-src 'none'; "
    b"script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    b"font-src https://fonts.gstatic.com; "
    b"img-src 'self' data: https://fastapi.tiangolo.com https://validator.swagger.io; "
    b"connect-src 'self'; worker-src blob:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
NOSNIFF = (b"x-content-type-options", b"nosniff")
API_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"content-security-policy", API_CSP), NOSNIFF)
DOCS_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"content-security-policy", DOCS_CSP), NOSNIFF)


def security_headers(path: str, docs: Collection[str] = ()) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer to `path` carries; `docs` are the paths of the docs pages."""
    return DOCS_HEADERS if path in docs else API_HEADERS


def with_security_headers(send: Send, headers: tuple[tuple[bytes, bytes], ...]) -> Send:
    """`send`, adding `headers` to the response's start (whoever built the response: a route,
    an error handler, Starlette's 500)."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return secured


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
