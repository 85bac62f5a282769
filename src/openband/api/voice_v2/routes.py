"""Bandwidth Voice API v2's routes: calls, their BXML and recordings, under /api/v2 and
unprefixed (bandwidth-api.md §3.1).

Wire translation only: core/voice holds the rules, wire.py the shapes. Every error leaves in
Voice's shape, `{"type", "description", "id"}` (AD voice/errors.mdx; PSDK voiceApiError).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from openband.api.auth import authenticate
from openband.api.body import BodyTooLarge, read_body
from openband.api.context import base_url, ctx
from openband.api.voice_v2 import wire
from openband.clock import parse_iso
from openband.core.accounts import KIND_BASIC, KIND_V1
from openband.core.voice.model import CAUSES, ListQuery
from openband.errors import CoreError, Forbidden, InvalidInput, retry_after_header

log = logging.getLogger(__name__)

KINDS = (KIND_BASIC, KIND_V1)
JSON = "application/json"
MAX_BXML = 64 * 1024

_TYPES = {
    400: "validation",
    401: "authentication-error",
    403: "authorization-error",
    404: "validation",
    405: "validation",
    409: "validation",
    413: "validation",
    415: "validation",
    429: "error",
    500: "internal-error",
}
_DEFAULTS = {
    401: "Authentication failed",
    403: "Access is denied",
    404: "Not found",
    405: "Method not allowed",
    415: "Unsupported media type",
    500: "An internal error occurred",
}


def error_response(
    status: int, description: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"type": _TYPES.get(status, "error"), "description": description, "id": None}
    h = dict(headers or {})
    if status == 401:
        h["WWW-Authenticate"] = 'Basic realm="OpenBand"'
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=h)


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON, headers=headers)


def _error_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, CoreError):
        if exc.status in (401, 403):
            return error_response(exc.status, _DEFAULTS[exc.status])
        return error_response(
            exc.status,
            exc.description or _DEFAULTS.get(exc.status, "Error"),
            retry_after_header(exc),
        )
    if isinstance(exc, BodyTooLarge):
        return error_response(413, str(exc))
    if isinstance(exc, RequestValidationError):
        return error_response(400, "The request is not valid")
    log.error("voice API error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, _DEFAULTS[500])


class VoiceRoute(APIRoute):
    def get_route_handler(self) -> Callable:  # type: ignore[type-arg]
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except ClientDisconnect:
                return Response(status_code=400)
            except Exception as exc:
                return _error_for(request, exc)

        return wrapped


router = APIRouter(route_class=VoiceRoute)


async def _authorize(request: Request, account_id: str) -> None:
    principal = await authenticate(request, KINDS)
    if principal.account_id != account_id:
        raise Forbidden("Access is denied")


async def _json_body(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype and ctype != JSON and not ctype.endswith("+json"):
        raise _Unsupported(f"Content type '{ctype}' is not supported; use application/json")
    raw = await read_body(request)
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidInput("The request body is not valid JSON") from None


class _Unsupported(CoreError):
    status = 415


# --- calls ------------------------------------------------------------------------------------


@router.post("/accounts/{account_id}/calls", include_in_schema=False)
async def create_call(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    req = wire.new_call(account_id, await _json_body(request))
    call = await ctx(request).voice.create_call(req)
    base = base_url(request)
    body = wire.create_response(call, base)
    return _json(body, 201, {"Location": body["callUrl"]})


def _time_param(params: dict[str, str], key: str) -> datetime | None:
    v = params.get(key)
    if not v:
        return None
    try:
        return parse_iso(v)
    except ValueError:
        raise InvalidInput(f"Invalid {key}: must be an ISO-8601 date-time", field=key) from None


def _page_token(token: str | None) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        at, cid = base64.urlsafe_b64decode(token.encode() + b"==").decode().split("|", 1)
        return parse_iso(at), cid
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Invalid pageToken", field="pageToken") from None


def _encode_token(at: datetime, call_id: str) -> str:
    raw = f"{at.isoformat()}|{call_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@router.get("/accounts/{account_id}/calls", include_in_schema=False)
async def list_calls(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    p = dict(request.query_params)
    size = p.get("pageSize", "1000")
    if not size.isdigit() or not 1 <= int(size) <= 10000:
        raise InvalidInput("Invalid pageSize: must be between 1 and 10000", field="pageSize")
    cause = p.get("disconnectCause") or None
    if cause is not None and cause not in CAUSES:
        raise InvalidInput(f"Invalid disconnectCause: {cause}", field="disconnectCause")
    q = ListQuery(
        account_id=account_id,
        to=p.get("to") or None,
        sender=p.get("from") or None,
        min_start_time=_time_param(p, "minStartTime"),
        max_start_time=_time_param(p, "maxStartTime"),
        disconnect_cause=cause,
        page_size=int(size) + 1,
        after=_page_token(p.get("pageToken")),
    )
    calls = await ctx(request).voice.list_calls(q)
    headers: dict[str, str] = {}
    if len(calls) > int(size):
        calls = calls[: int(size)]
        last = calls[-1]
        assert last.created_at is not None
        rest = {k: v for k, v in p.items() if k != "pageToken"}
        rest["pageToken"] = _encode_token(last.created_at, last.call_id)
        link = f"{base_url(request)}{request.url.path}?{urlencode(rest)}"
        headers["Link"] = f'<{link}>; rel="next"'
    return _json([wire.call_state(c) for c in calls], headers=headers)


@router.get("/accounts/{account_id}/calls/{call_id}", include_in_schema=False)
async def get_call(request: Request, account_id: str, call_id: str) -> Response:
    await _authorize(request, account_id)
    return _json(wire.call_state(await ctx(request).voice.get_call(account_id, call_id)))


@router.post("/accounts/{account_id}/calls/{call_id}", include_in_schema=False)
async def update_call(request: Request, account_id: str, call_id: str) -> Response:
    await _authorize(request, account_id)
    upd = wire.call_update(await _json_body(request))
    await ctx(request).voice.update_call(account_id, call_id, upd)
    return Response(status_code=200)


@router.put("/accounts/{account_id}/calls/{call_id}/bxml", include_in_schema=False)
async def update_bxml(request: Request, account_id: str, call_id: str) -> Response:
    await _authorize(request, account_id)
    raw = await read_body(request, limit=MAX_BXML)
    await ctx(request).voice.replace_bxml(account_id, call_id, raw)
    return Response(status_code=204)


@router.put("/accounts/{account_id}/calls/{call_id}/recording", include_in_schema=False)
async def recording_state(request: Request, account_id: str, call_id: str) -> Response:
    await _authorize(request, account_id)
    body = await _json_body(request)
    state = body.get("state") if isinstance(body, dict) else None
    if state not in ("paused", "recording"):
        raise InvalidInput("Invalid state: must be paused or recording", field="state")
    await ctx(request).voice.set_recording_state(account_id, call_id, state == "paused")
    return Response(status_code=200)


# --- recordings -------------------------------------------------------------------------------


@router.get("/accounts/{account_id}/calls/{call_id}/recordings", include_in_schema=False)
async def call_recordings(request: Request, account_id: str, call_id: str) -> Response:
    await _authorize(request, account_id)
    items = await ctx(request).voice.recordings(account_id, call_id)
    base = base_url(request)
    return _json([wire.recording(r, base) for r in items])


@router.get(
    "/accounts/{account_id}/calls/{call_id}/recordings/{recording_id}", include_in_schema=False
)
async def get_recording(
    request: Request, account_id: str, call_id: str, recording_id: str
) -> Response:
    await _authorize(request, account_id)
    r = await ctx(request).voice.recording(account_id, call_id, recording_id)
    return _json(wire.recording(r, base_url(request)))


@router.delete(
    "/accounts/{account_id}/calls/{call_id}/recordings/{recording_id}", include_in_schema=False
)
async def delete_recording(
    request: Request, account_id: str, call_id: str, recording_id: str
) -> Response:
    await _authorize(request, account_id)
    await ctx(request).voice.delete_recording(account_id, call_id, recording_id)
    return Response(status_code=204)


_MEDIA_TYPES = {"wav": "audio/vnd.wave", "mp3": "audio/mpeg"}


@router.get(
    "/accounts/{account_id}/calls/{call_id}/recordings/{recording_id}/media",
    include_in_schema=False,
)
async def recording_media(
    request: Request, account_id: str, call_id: str, recording_id: str
) -> Response:
    await _authorize(request, account_id)
    rec, stream = await ctx(request).voice.recording_media(account_id, call_id, recording_id)
    return StreamingResponse(
        stream,
        media_type=_MEDIA_TYPES[rec.file_format],
        headers={"Content-Length": str(rec.size)},
    )


@router.delete(
    "/accounts/{account_id}/calls/{call_id}/recordings/{recording_id}/media",
    include_in_schema=False,
)
async def delete_recording_media(
    request: Request, account_id: str, call_id: str, recording_id: str
) -> Response:
    await _authorize(request, account_id)
    await ctx(request).voice.delete_recording(account_id, call_id, recording_id, media_only=True)
    return Response(status_code=204)


@router.get("/accounts/{account_id}/recordings", include_in_schema=False)
async def account_recordings(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    p = dict(request.query_params)
    items = await ctx(request).voice.recordings(
        account_id,
        to=p.get("to") or None,
        sender=p.get("from") or None,
        min_start=_time_param(p, "minStartTime"),
        max_start=_time_param(p, "maxStartTime"),
    )
    base = base_url(request)
    return _json([wire.recording(r, base) for r in items])


@router.get("/accounts/{account_id}/statistics", include_in_schema=False)
async def statistics(request: Request, account_id: str) -> Response:
    await _authorize(request, account_id)
    queued, limit = await ctx(request).voice.statistics(account_id)
    return _json({"currentCallQueueSize": queued, "maxCallQueueSize": limit})
