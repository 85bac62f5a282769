"""Bandwidth Messaging API v2: messages and media, under /api/v2 and unprefixed.

Only wire translation lives here (core/messaging holds the rules). Every error leaves in
Bandwidth's shape: `{"type","description"}` (+ `fieldErrors` on a create 400), a Spring-style body
for 404; nothing escapes as FastAPI's default 422/500 bodies.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openband.api.auth import authenticate
from openband.api.body import BodyTooLarge, read_body
from openband.api.context import base_url, ctx
from openband.core import messaging as core
from openband.core.accounts import KIND_BASIC, KIND_V1
from openband.core.clock import iso, now
from openband.core.errors import CoreError, Forbidden, NotFound
from openband.store import media as media_repo

log = logging.getLogger(__name__)

KINDS = (KIND_BASIC, KIND_V1)
JSON = "application/json"
MEDIA_PAGE = 1000

_TYPES = {
    400: ("request-validation", "Your request could not be accepted"),
    401: ("unauthorized", "Authentication Failed"),
    403: ("forbidden", "Access Denied"),
    405: ("messagingRequestError", "Method Not Allowed"),
    409: ("messagingRequestError", "Conflict"),
    413: ("request-entity-too-large", "The request body is too large"),
    415: ("unsupported-content-type", "Content type not supported. Please use 'application/json'"),
    429: ("max-message-queue-size-exceeded", "Too many requests"),
    500: ("messagingRequestError", "An internal error occurred"),
}


class UnsupportedContentType(CoreError):
    status = 415
    kind = "unsupported-content-type"


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON, headers=headers)


def error_response(status: int, type_: str, description: str, **extra: Any) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="OpenBand"'} if status == 401 else None
    return json_response({"type": type_, "description": description, **extra}, status, headers)


def not_found(request: Request) -> Response:
    """Bandwidth's messaging gateway answers unknown resources the Spring Boot way."""
    return json_response(
        {
            "timestamp": iso(now()),
            "status": 404,
            "error": "Not Found",
            "message": "Not Found",
            "path": request.url.path,
        },
        404,
    )


def _core_error(request: Request, exc: CoreError) -> Response:
    if exc.status == 404:
        return not_found(request)
    if isinstance(exc, core.RequestInvalid):
        return error_response(
            400,
            "request-validation",
            "Your request could not be accepted",
            fieldErrors=[{"fieldName": f, "description": d} for f, d in exc.fields],
        )
    default_type, default_desc = _TYPES.get(exc.status, ("messagingRequestError", "Error"))
    if exc.status in (401, 403):
        return error_response(exc.status, default_type, default_desc)
    type_ = exc.kind if exc.status in (415, 429) else default_type
    return error_response(exc.status, type_, exc.description or default_desc)


async def _answer(request: Request, handler: Callable[[Request], Awaitable[Response]]) -> Response:
    """Run a handler; every error leaves in this API's shape."""
    try:
        return await handler(request)
    except CoreError as exc:
        return _core_error(request, exc)
    except BodyTooLarge as exc:
        return error_response(413, "request-entity-too-large", str(exc))
    except ClientDisconnect:  # the client went away mid-body: nobody to answer
        return Response(status_code=400)
    except RequestValidationError:
        return error_response(400, *_TYPES[400])
    except Exception:
        log.exception("messaging API error on %s %s", request.method, request.url.path)
        return error_response(500, *_TYPES[500])


class MessagingRoute(APIRoute):
    def get_route_handler(self) -> Callable:  # type: ignore[type-arg]
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            return await _answer(request, handler)

        return wrapped


router = APIRouter(route_class=MessagingRoute)


async def _authorize(request: Request, account_id: str) -> None:
    # A header verified recently costs a dict lookup (core.accounts.CredentialCache).
    credentials = ctx(request).credentials
    header = request.headers.get("authorization", "")
    principal = credentials.cached_header(header, KINDS) if header else None
    if principal is None:
        principal = await authenticate(request, KINDS)
        if header:
            credentials.remember_header(header, principal)
    else:
        request.state.principal = principal
    if principal.account_id != account_id:
        raise Forbidden("Access Denied")


def _engine(request: Request) -> core.Messaging:
    engine = ctx(request).extras.get("messaging")
    if not isinstance(engine, core.Messaging):
        raise RuntimeError("messaging engine is not wired")
    return engine


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == JSON or (mime.startswith("application/") and mime.endswith("+json"))


# --- messages ----------------------------------------------------------------------------------


@router.post("/users/{account_id}/messages", include_in_schema=False)
async def create_message(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    ctype = request.headers.get("content-type", "")
    if not _is_json(ctype):
        raise UnsupportedContentType(
            f"Content type '{ctype}' not supported. Please use 'application/json'"
        )
    raw = await read_body(request)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise core.RequestInvalid([("body", "The request body is not valid JSON")]) from exc
    doc = await _engine(request).accept(account_id, body)
    return json_response(doc, 202)


_CREATE_PATH = re.compile(r"^(?:/api/v2)?/users/(?P<account_id>[^/]+)/messages$")


async def create_message_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """POST .../messages without FastAPI's routing and parameter machinery: the hottest request
    of the platform, matched before the router (see `fast_routes`). Same answers as the route."""
    m = _CREATE_PATH.match(scope["path"])
    assert m is not None
    request = Request(scope, receive)
    account_id = m.group("account_id")  # the path is already decoded, as the router sees it

    async def handler(req: Request) -> Response:
        return await create_message(req, account_id)

    response = await _answer(request, handler)
    await response(scope, receive, send)


def fast_routes() -> list[tuple[str, re.Pattern[str], ASGIApp]]:
    """(method, path pattern, ASGI endpoint) served ahead of the router (api/middleware)."""
    return [("POST", _CREATE_PATH, create_message_asgi)]


@router.get("/users/{account_id}/messages", include_in_schema=False)
async def list_messages(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    params = dict(request.query_params)
    total, items, q = await _engine(request).list_messages(account_id, params)
    page_info: dict[str, str] = {}
    link = f"{base_url(request)}{request.url.path}"

    def page(offset: int) -> tuple[str, str]:
        token = core.encode_page_token(offset)
        rest = {k: v for k, v in params.items() if k != "pageToken"}
        return f"{link}?{urlencode({**rest, 'pageToken': token})}", token

    if q.offset > 0:
        page_info["prevPage"], page_info["prevPageToken"] = page(max(0, q.offset - q.limit))
    more = q.offset + len(items) < total and len(items) == q.limit
    if more and q.offset + q.limit < core.MAX_LIST_WINDOW:
        page_info["nextPage"], page_info["nextPageToken"] = page(q.offset + q.limit)
    return json_response({"totalCount": total, "pageInfo": page_info, "messages": items})


# --- media -------------------------------------------------------------------------------------


@router.get("/users/{account_id}/media", include_in_schema=False)
async def list_media(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    c = ctx(request)
    after = request.headers.get("continuation-token") or None
    async with c.db.connect() as conn:
        rows = await media_repo.list_page(conn, account_id, now(), after, MEDIA_PAGE + 1)
    more = len(rows) > MEDIA_PAGE
    rows = rows[:MEDIA_PAGE]
    base = base_url(request)
    doc = [
        {
            "content": core.media_url(base, account_id, media_id),
            "contentLength": size,
            "mediaName": media_id,
        }
        for media_id, size in rows
    ]
    headers = {"Continuation-Token": rows[-1][0]} if more and rows else None
    return json_response(doc, 200, headers)


@router.put("/users/{account_id}/media/{media_id:path}", include_in_schema=False)
async def upload_media(request: Request, account_id: str, media_id: str) -> Response:
    await _authorize(request, account_id)
    core.check_media_id(media_id)
    c = ctx(request)
    s = c.settings
    content = await read_body(request, s.media_max_bytes)
    at = now()
    async with c.db.begin() as conn:
        await media_repo.put(
            conn,
            c.db.dialect,
            account_id=account_id,
            media_id=media_id,
            content=content,
            content_type=request.headers.get("content-type") or "application/octet-stream",
            cache_control=request.headers.get("cache-control"),
            at=at,
            expires_at=at + timedelta(hours=s.media_retention_hours),
        )
    return Response(status_code=204)


@router.get("/users/{account_id}/media/{media_id:path}", include_in_schema=False)
async def get_media(request: Request, account_id: str, media_id: str) -> Response:
    await _authorize(request, account_id)
    core.check_media_id(media_id)
    c = ctx(request)
    async with c.db.connect() as conn:
        row = await media_repo.get(conn, account_id, media_id, now())
    if row is None:
        raise NotFound("Not Found")
    # The Content-Type stored at upload, verbatim: Response(media_type=…) would add
    # "; charset=utf-8" to text/* types.
    headers = {"Content-Type": row.content_type}
    if row.cache_control:
        headers["Cache-Control"] = row.cache_control
    return Response(row.content, headers=headers)


@router.delete("/users/{account_id}/media/{media_id:path}", include_in_schema=False)
async def delete_media(request: Request, account_id: str, media_id: str) -> Response:
    await _authorize(request, account_id)
    core.check_media_id(media_id)
    c = ctx(request)
    async with c.db.begin() as conn:
        gone = await media_repo.remove(conn, account_id, media_id, now())
    if not gone:
        raise NotFound("Not Found")
    return Response(status_code=204)


@router.api_route(
    "/users/{account_id}/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown(request: Request, account_id: str, rest: str) -> Response:
    return not_found(request)


PREFIXES = ("", "/api/v2")
