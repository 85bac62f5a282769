"""The ASGI application: every API family, the background workers, and their lifecycle."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openband import __version__, heap, wiring
from openband.api import edge, health, messaging_v2, sim, sim_calls, voice_v2
from openband.api.middleware import RequestLog, security_headers, with_security_headers
from openband.config import Settings
from openband.store.db import Database, migrate

log = logging.getLogger(__name__)

DASHBOARD_PREFIXES = edge.DASHBOARD_PREFIXES


def dashboard_router() -> APIRouter:
    from openband.api.dashboard import ROUTERS

    combined = APIRouter()
    for r in ROUTERS:
        combined.include_router(r)
    return combined


class OpenBandApp(FastAPI):
    """FastAPI, with a few hot (method, path) pairs answered before its middleware stack.

    Starlette's error, telemetry and body-limit middlewares, the router and the Request and
    Response objects cost more than the rest of accepting a message; the hot endpoints
    (api/messaging_v2.fast_routes) parse their own parameters, catch their own errors and log
    their own request line (and their own security headers). Everything else goes the usual
    way, every answer (Starlette's own 500 included) with api/middleware's security headers.
    """

    hot_routes: tuple[tuple[str, re.Pattern[str], ASGIApp], ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for m, pattern, endpoint in self.hot_routes:
                if m == method and pattern.match(path):
                    scope["app"] = self
                    await endpoint(scope, receive, send)
                    return
            docs = (self.docs_url, self.redoc_url, self.swagger_ui_oauth2_redirect_url)
            send = with_security_headers(send, security_headers(path, docs))
        await super().__call__(scope, receive, send)


class RefuseControlCharacters:
    """A control character in a path or a query value is refused at the door with the
    family's 400: no id, number or filter has one, and PostgreSQL refuses NUL in text (a 500
    otherwise), SQLite stops at it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = edge.control_character(scope["path"], scope.get("query_string", b""))
            if where is not None:
                text = f"The request {where} contains a control character"
                await edge.error(scope["path"], 400, text)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _unmatched(request: Request, exc: Exception) -> Response:
    """No route (404) or not this method (405): the family's shape, not FastAPI's."""
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    return edge.error(request.url.path, status)


def create_app(settings: Settings, *, run_migrations: bool = True, workers: bool = True) -> FastAPI:
    heap.return_large_buffers()  # freed request bodies and media pieces leave the process
    db = Database(settings.database_url)
    node = wiring.build(settings, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            await asyncio.to_thread(migrate, settings.database_url)
        await wiring.start(node, run_workers=workers)
        try:
            yield
        finally:
            await wiring.stop(node)
            await db.dispose()

    app = OpenBandApp(
        title="OpenBand",
        version=__version__,
        summary="Self-hosted voice & messaging platform, wire-compatible with Bandwidth's APIs.",
        description=(
            "This document covers OpenBand's own endpoints (operations, simulator control). "
            "The Bandwidth-compatible APIs (Dashboard XML, Messaging v2, Voice v2, v1) follow "
            "Bandwidth's published specifications; see docs/api-coverage.md."
        ),
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry asks the global OTel providers whether they are
        # configured (three environment lookups) on every request: 5 % of the accept path's
        # CPU. OpenBand does not use OTel; its request log carries the ids (api/middleware).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.node = node
    app.state.platform = node.platform  # what the API modules reach (api/context.ctx)
    app.include_router(health.router)
    # First: the hottest API is matched before the long Dashboard route lists. The SDK with
    # ignore_operation_servers=True sends the host's path as is: serve /api/v2 and unprefixed.
    for prefix in messaging_v2.PREFIXES:
        app.include_router(messaging_v2.router, prefix=prefix)
    for prefix in voice_v2.PREFIXES:
        app.include_router(voice_v2.router, prefix=prefix)
    app.include_router(sim.router)
    app.include_router(sim_calls.router)
    dash = dashboard_router()
    for prefix in DASHBOARD_PREFIXES:
        app.include_router(dash, prefix=prefix)
    app.hot_routes = tuple(messaging_v2.fast_routes())
    app.add_exception_handler(StarletteHTTPException, _unmatched)
    app.add_middleware(RefuseControlCharacters)
    app.add_middleware(RequestLog)
    return app


def create_worker_app() -> FastAPI:
    """The app of one `openband serve --workers N` process (an app factory for uvicorn).

    Settings come from OPENBAND_* variables, which the CLI sets for its workers; the CLI has
    already migrated the schema. Each worker runs its own background loops: every claim (send
    pump, callback outbox, jobs) is safe across processes.
    """
    from openband import logs
    from openband.config import load_settings

    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    return create_app(settings, run_migrations=False)
