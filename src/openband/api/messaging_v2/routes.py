"""Bandwidth Messaging API v2's routes: messages and media, under /api/v2 and unprefixed.

Only wire translation lives here (core/messaging holds the rules; wire.py and listing.py the
shapes). Every error leaves in Bandwidth's shape: `{"type","description"}` (+ `fieldErrors` on a
create 400), a Spring-style body for 404; nothing escapes as FastAPI's default 422/500 bodies.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from openband.api.auth import authenticate
from openband.api.body import BodyTooLarge, read_body
from openband.api.context import base_url, ctx
from openband.api.messaging_v2 import listing, wire
from openband.api.middleware import (
    API_HEADERS,
    RequestLog,
    log_request,
    log_requests,
    new_request_id,
    with_security_headers,
)
from openband.clock import iso, now
from openband.core import messaging as core
from openband.core.accounts import KIND_BASIC, KIND_V1, Principal
from openband.core.platform import Platform
from openband.errors import CoreError, Forbidden, retry_after_header

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


def not_found(request: Request | str) -> Response:
    """Bandwidth's messaging gateway answers unknown resources the Spring Boot way."""
    path = request if isinstance(request, str) else request.url.path
    return json_response(
        {
            "timestamp": iso(now()),
            "status": 404,
            "error": "Not Found",
            "message": "Not Found",
            "path": path,
        },
        404,
    )


def _core_error(path: str, exc: CoreError) -> Response:
    if exc.status == 404:
        return not_found(path)
    if isinstance(exc, core.RequestInvalid):
        return error_response(
            400,
            "request-validation",
            "Your request could not be accepted",
            fieldErrors=wire.field_errors(exc.fields),
        )
    default_type, default_desc = _TYPES.get(exc.status, ("messagingRequestError", "Error"))
    if exc.status in (401, 403):
        return error_response(exc.status, default_type, default_desc)
    type_ = exc.kind if exc.status in (415, 429) else default_type
    response = error_response(exc.status, type_, exc.description or default_desc)
    response.headers.update(retry_after_header(exc) or {})
    return response


def _error_for(path: str, exc: Exception, scope: Scope | None = None) -> Response:
    """The answer to an exception raised while serving `path`, in this API's shape."""
    if isinstance(exc, CoreError):
        return _core_error(path, exc)
    if isinstance(exc, BodyTooLarge):
        return error_response(413, "request-entity-too-large", str(exc))
    if isinstance(exc, RequestValidationError):
        return error_response(400, *_TYPES[400])
    method = scope["method"] if scope is not None else "?"
    log.error("messaging API error on %s %s", method, path, exc_info=exc)
    return error_response(500, *_TYPES[500])


async def _answer(request: Request, handler: Callable[[Request], Awaitable[Response]]) -> Response:
    """Run a handler; every error leaves in this API's shape."""
    try:
        return await handler(request)
    except ClientDisconnect:  # the client went away mid-body: nobody to answer
        return Response(status_code=400)
    except Exception as exc:
        return _error_for(request.url.path, exc, request.scope)


class MessagingRoute(APIRoute):
    def get_route_handler(self) -> Callable:  # type: ignore[type-arg]
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            return await _answer(request, handler)

        return wrapped


router = APIRouter(route_class=MessagingRoute)


async def _authorize(request: Request, account_id: str) -> None:
    # A header verified recently costs a dict lookup (core.accounts.CredentialCache).
    accounts = ctx(request).accounts
    header = request.headers.get("authorization", "")
    principal = accounts.cached_header(header, KINDS) if header else None
    if principal is None:
        principal = await authenticate(request, KINDS)
        if header:
            accounts.remember_header(header, principal)
    else:
        request.state.principal = principal
    if principal.account_id != account_id:
        raise Forbidden("Access Denied")


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == JSON or (mime.startswith("application/") and mime.endswith("+json"))


# --- messages ----------------------------------------------------------------------------------


def _admit(principal: Principal, account_id: str, content_type: str) -> None:
    """The checks made before a create's body is read (a refused one is not read at all)."""
    if principal.account_id != account_id:
        raise Forbidden("Access Denied")
    if not _is_json(content_type):
        raise UnsupportedContentType(
            f"Content type '{content_type}' not supported. Please use 'application/json'"
        )


async def _create(platform: Platform, account_id: str, raw: bytes) -> bytes:
    """The one way a message is created, from the route or the hot path: the 202 body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise core.RequestInvalid(
            [(core.Field.BODY, "The request body is not valid JSON")]
        ) from exc
    req, errors = wire.send_request(body)
    message = await platform.messaging.accept(account_id, req, errors)
    return orjson.dumps(wire.message_body(message))


@router.post("/users/{account_id}/messages", include_in_schema=False)
async def create_message(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    _admit(request.state.principal, account_id, request.headers.get("content-type", ""))
    body = await _create(ctx(request), account_id, await read_body(request))
    return Response(body, status_code=202, media_type=JSON)


_CREATE_PATH = re.compile(r"^(?:/api/v2)?/users/(?P<account_id>[^/]+)/messages$")
# Written by hand here (no middleware on this path): with the CSP and nosniff of every answer.
_JSON_HEADERS = [(b"content-type", b"application/json"), *API_HEADERS]


async def _send_json(send: Send, status: int, body: bytes, rid: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *_JSON_HEADERS,
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", rid.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_asgi_body(receive: Receive, declared: bytes | None, cap: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(cap)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(cap)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def create_message_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """POST .../messages straight from ASGI, ahead of FastAPI's middleware and router: the
    hottest request of the platform (see OpenBandApp). The common case (a recently verified
    Authorization header) builds no Request; anything else takes the route's full way. Same
    answers as the route, and the same request-log line and X-Request-Id as RequestLog."""
    m = _CREATE_PATH.match(scope["path"])
    assert m is not None
    account_id = m.group("account_id")  # the path is already decoded, as the router sees it
    c: Platform = scope["app"].state.platform
    auth = ctype = declared = rid_in = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            auth = value
        elif key == b"content-type":
            ctype = value
        elif key == b"content-length":
            declared = value
        elif key == b"x-request-id":
            rid_in = value
    header = auth.decode("latin-1") if auth is not None else ""
    principal = c.accounts.cached_header(header, KINDS) if header else None
    if principal is None:  # first sight of these credentials: the full way verifies them
        slow = RequestLog(_create_message_slow)
        await slow(scope, receive, with_security_headers(send, API_HEADERS))
        return
    rid = rid_in.decode("latin-1")[:64] if rid_in is not None else new_request_id()
    state = scope.setdefault("state", {})
    state["request_id"], state["principal"] = rid, principal
    start = time.perf_counter()
    status = 202
    try:
        _admit(principal, account_id, ctype.decode("latin-1") if ctype is not None else "")
        raw = await _read_asgi_body(receive, declared, c.settings.max_body_bytes)
        await _send_json(send, 202, await _create(c, account_id, raw), rid)
    except ClientDisconnect:
        status = 400  # the client went away mid-body: nobody to answer
    except Exception as exc:
        response = _error_for(scope["path"], exc, scope)
        status = response.status_code
        response.headers["x-request-id"] = rid
        response.raw_headers.extend(API_HEADERS)
        await response(scope, receive, send)
    finally:
        if log_requests():
            log_request(scope, rid, status, start)


async def _create_message_slow(scope: Scope, receive: Receive, send: Send) -> None:
    m = _CREATE_PATH.match(scope["path"])
    assert m is not None
    account_id = m.group("account_id")

    async def handler(req: Request) -> Response:
        return await create_message(req, account_id)

    request = Request(scope, receive)
    response = await _answer(request, handler)
    await response(scope, receive, send)


def fast_routes() -> list[tuple[str, re.Pattern[str], ASGIApp]]:
    """(method, path pattern, ASGI endpoint) served ahead of FastAPI (server.OpenBandApp)."""
    return [("POST", _CREATE_PATH, create_message_asgi)]


@router.get("/users/{account_id}/messages", include_in_schema=False)
async def list_messages(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    params = dict(request.query_params)
    q = listing.parse_list_query(account_id, params)
    total, rows = await ctx(request).messaging.list_messages(q)
    page_info: dict[str, str] = {}
    link = f"{base_url(request)}{request.url.path}"

    def page(offset: int) -> tuple[str, str]:
        token = listing.encode_page_token(offset)
        rest = {k: v for k, v in params.items() if k != "pageToken"}
        return f"{link}?{urlencode({**rest, 'pageToken': token})}", token

    if q.offset > 0:
        page_info["prevPage"], page_info["prevPageToken"] = page(max(0, q.offset - q.limit))
    more = q.offset + len(rows) < total and len(rows) == q.limit
    if more and q.offset + q.limit < core.MAX_LIST_WINDOW:
        page_info["nextPage"], page_info["nextPageToken"] = page(q.offset + q.limit)
    items = [listing.list_item(r) for r in rows]
    return json_response({"totalCount": total, "pageInfo": page_info, "messages": items})


# --- media -------------------------------------------------------------------------------------


@router.get("/users/{account_id}/media", include_in_schema=False)
async def list_media(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    after = request.headers.get("continuation-token") or None
    rows, more = await ctx(request).media.page(account_id, after, MEDIA_PAGE)
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
    # Streamed into the blob store as it arrives (core refuses a bad type or a declared size
    # before reading): never the whole body in memory.
    declared = request.headers.get("content-length", "")
    await ctx(request).media.upload(
        account_id,
        media_id,
        request.stream(),
        request.headers.get("content-type"),
        request.headers.get("cache-control"),
        int(declared) if declared.isdigit() else None,
    )
    return Response(status_code=204)


@router.get("/users/{account_id}/media/{media_id:path}", include_in_schema=False)
async def get_media(request: Request, account_id: str, media_id: str) -> Response:
    await _authorize(request, account_id)
    media = await ctx(request).media.open(account_id, media_id)
    # The Content-Type stored at upload (validated then), verbatim: Response(media_type=…)
    # would add "; charset=utf-8" to text/* types. nosniff and the sandboxing CSP come with
    # every answer (api/middleware.py); what a browser would render is an attachment.
    headers = {"Content-Type": media.content_type, "Content-Length": str(media.size)}
    if media.attachment:
        headers["Content-Disposition"] = f'attachment; filename="{media.filename}"'
    if media.cache_control:
        headers["Cache-Control"] = media.cache_control
    return StreamingResponse(media.chunks, headers=headers)


@router.delete("/users/{account_id}/media/{media_id:path}", include_in_schema=False)
async def delete_media(request: Request, account_id: str, media_id: str) -> Response:
    await _authorize(request, account_id)
    await ctx(request).media.delete(account_id, media_id)
    return Response(status_code=204)


@router.api_route(
    "/users/{account_id}/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown(request: Request, account_id: str, rest: str) -> Response:
    return not_found(request)
