"""The Dashboard router: authentication and error translation for every route.

Each route names the root element its errors are wrapped in and the error style Bandwidth uses
there (`status`, `errorlist` or `error`, see xml.error_document). Core errors, bad XML and
oversized bodies all come out in that shape with the right status; nothing else escapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from openband.api.auth import authorize_account
from openband.api.body import BodyTooLarge, read_body
from openband.api.context import base_url
from openband.api.dashboard.xml import XML_MEDIA_TYPE, M, error_document, parse_doc
from openband.core.accounts import KIND_BASIC, Principal
from openband.errors import CoreError, retry_after_header

log = logging.getLogger(__name__)

DASHBOARD_KINDS = (KIND_BASIC,)


class DashboardRoute(APIRoute):
    def get_route_handler(self) -> Callable:  # type: ignore[type-arg]
        handler = super().get_route_handler()
        extra = self.openapi_extra or {}
        root = extra.get("x-error-root", "ErrorResponse")
        style = extra.get("x-error-style", "status")

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except CoreError as exc:
                headers = (
                    {"WWW-Authenticate": 'Basic realm="OpenBand"'}
                    if exc.status == 401
                    else retry_after_header(exc)
                )
                return Response(
                    error_document(root, style, exc.code, exc.description),
                    status_code=exc.status,
                    media_type=XML_MEDIA_TYPE,
                    headers=headers,
                )
            except BodyTooLarge as exc:
                return Response(
                    error_document(root, style, 1001, str(exc)),
                    status_code=413,
                    media_type=XML_MEDIA_TYPE,
                )

        return wrapped


class DashboardRouter(APIRouter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=DashboardRoute, **kwargs)

    def xml(self, method: str, path: str, root: str, style: str = "status", status: int = 200):  # type: ignore[no-untyped-def]
        """Register a Dashboard route whose errors are wrapped in `<root>`."""
        return self.api_route(
            path,
            methods=[method],
            include_in_schema=False,
            status_code=status,
            openapi_extra={"x-error-root": root, "x-error-style": style},
        )


async def principal(request: Request, account_id: str) -> Principal:
    return await authorize_account(request, account_id, DASHBOARD_KINDS)


async def body_doc(request: Request, model: type[M], roots: tuple[str, ...] | None = None) -> M:
    return parse_doc(await read_body(request), model, roots)


def location(request: Request, path: str) -> dict[str, str]:
    """A Location header for a created resource: the request's prefix (/api, /v1.0…) kept."""
    prefix = request.url.path.split("/accounts/", 1)[0] if "/accounts/" in request.url.path else ""
    return {"Location": f"{base_url(request)}{prefix}{path}"}
