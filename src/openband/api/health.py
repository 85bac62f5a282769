"""OpenBand's own health endpoints (documented in /docs)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openband import __version__, metrics
from openband.api.context import ctx

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="Readiness: the database answers")
async def ready(request: Request) -> JSONResponse:
    platform = ctx(request)
    ok = await platform.ready()
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "database": platform.database_kind},
        status_code=200 if ok else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics: counters of every process of this node, gauges of the database",
    response_class=Response,
)
async def prometheus_metrics(request: Request) -> Response:
    return Response(await ctx(request).metrics(), media_type=metrics.CONTENT_TYPE)
