"""OpenBand's own simulator control API (/sim/v1): script handsets, text from them, read their log.

Not a Bandwidth API: JSON in and out, HTTP Basic with the account's username:password, errors as
`{"type", "description"}` (plus `fieldErrors` on validation) like Messaging v2. An account sees
only the simulator traffic that involves its own numbers, and scripts handsets for its own
messages only (see docs/simulator.md). The rules are core/simulator's; this module only
translates.

SimRoute authenticates before the body is read, caps the body size, insists on JSON, and turns
every error (core, validation, oversized body) into that shape: FastAPI's 422 never leaks.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from openband.api.auth import authenticate
from openband.api.body import BodyTooLarge, read_body
from openband.api.context import ctx
from openband.clock import iso
from openband.core import simulator as sim
from openband.core.accounts import KIND_BASIC, Principal
from openband.core.simulator import (
    MAX_TEXT,
    RECEIVED,
    Behaviour,
    CallScript,
    HandsetMessage,
    MediaItem,
)
from openband.errors import CoreError, InvalidInput, retry_after_header

log = logging.getLogger(__name__)

PREFIX = "/sim/v1"
KINDS = (KIND_BASIC,)

ERROR_TYPES = {
    400: "request-validation",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "request-entity-too-large",
    415: "unsupported-content-type",
    429: "too-many-requests",
    503: "service-unavailable",
}


class UnsupportedMediaType(CoreError):
    status = 415
    kind = "unsupported-content-type"


# --- wire models -------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


class FieldError(_Wire):
    field_name: str
    description: str


class ErrorBody(_Wire):
    type: str = Field(examples=["request-validation"])
    description: str = Field(examples=["'12345' must be a valid E164 telephone number"])
    field_errors: list[FieldError] | None = None


class MediaObject(_Wire):
    content_type: str = Field(min_length=1, max_length=255, examples=["image/png"])
    content: str = Field(description="The bytes, base64-encoded.")
    name: str | None = Field(None, max_length=255, examples=["cat.png"])


class HandsetSend(_Wire):
    from_: str = Field(
        alias="from",
        max_length=32,
        description="The handset: any valid number that no account owns.",
        examples=["+19195550123"],
    )
    to: str | list[str] = Field(
        description="Platform number(s) of your account (a list is a group message).",
        examples=["+19195551234"],
    )
    text: str = Field("", max_length=MAX_TEXT)
    media: list[str | MediaObject] = Field(
        default_factory=list,
        max_length=sim.MAX_MEDIA,
        description="URLs (fetched under the SSRF policy) or inline {contentType, content, name}.",
    )


class SendResult(_Wire):
    message_ids: list[str] = Field(description="The inbound message ids on the platform.")
    from_: str = Field(alias="from")
    to: list[str]
    text: str
    media: list[str] = Field(description="Names of the media items sent.")
    segment_count: int
    time: str


class HandsetMessageOut(_Wire):
    id: int = Field(description="Position in the handset's log; use with ?after=.")
    message_id: str | None = Field(description="The platform's message id.")
    direction: Literal["received", "sent"]
    handset: str
    platform_number: str = Field(description="The platform number on the other side.")
    from_: str = Field(alias="from")
    to: str
    text: str
    media: list[Any] = Field(description="Received: the media URLs; sent: the item names.")
    segments: list[str] = Field(description="The text as its parts (segments) on the air.")
    segment_count: int
    time: str


class HandsetMessages(_Wire):
    handset: str
    messages: list[HandsetMessageOut]


class BehaviourIn(_Wire):
    mode: Literal["deliver", "fail", "never_confirm", "opt_out"] = "deliver"
    error_code: int | None = Field(None, description="Mode `fail` only: a messaging error code.")
    delay_seconds: float = Field(
        0.0, description="deliver/fail: the final receipt arrives this much later."
    )
    auto_reply: str | None = Field(
        None, description="After delivery the handset replies this text; `{text}` = what it got."
    )
    auto_reply_delay_seconds: float = 0.0
    call: dict[str, Any] | None = Field(
        None,
        description=(
            "How the handset answers calls: `answer` (answer, busy, no-answer, reject, machine), "
            "`answerAfterSeconds`, `greeting` (machine), `voice`, and `actions` (say, press, "
            "hangup; on `answered` or when it `heard` a phrase, `afterSeconds` later). Absent: "
            "it rings about a second, answers and stays on the line. See docs/voice.md."
        ),
        examples=[{"answer": "answer", "answerAfterSeconds": 2}],
    )

    def call_script(self) -> CallScript | None:
        if self.call is None:
            return None
        try:
            return CallScript.from_json(self.call)
        except InvalidInput as exc:  # name the field as the body does
            where = f"call.{exc.field}" if exc.field else "call"
            text = str(exc)
            text = (
                f"call.{text}" if exc.field and text.startswith(exc.field) else f"{where}: {text}"
            )
            raise InvalidInput(text, field=where) from None

    def behaviour(self) -> Behaviour:
        return Behaviour(
            mode=self.mode,
            error_code=self.error_code,
            delay_seconds=self.delay_seconds,
            auto_reply=self.auto_reply,
            auto_reply_delay_seconds=self.auto_reply_delay_seconds,
        )


class BehaviourOut(BehaviourIn):
    number: str
    reserved: bool = Field(description="A reserved test number: fixed behaviour.")
    scripted: bool = Field(description="Set with PUT (false: the default, deliver).")
    failure_code: int | None = Field(description="The error code it fails with, if any.")


class ReservedOut(BehaviourIn):
    line: str = Field(examples=["0101"])
    pattern: str = Field(examples=["+1NPA5550101"])
    example: str = Field(examples=["+19195550101"])
    summary: str
    failure_code: int | None


# --- routing -----------------------------------------------------------------------------------


def _error(
    status: int,
    description: str,
    field_errors: list[dict[str, str]] | None = None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": kind or ERROR_TYPES.get(status, "error"),
        "description": description,
    }
    if field_errors:
        body["fieldErrors"] = field_errors
    if status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="OpenBand"'}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    # Union members show up in the location (`to.str`, `media.0.MediaObject`); drop them.
    parts = [p for p in parts if p not in ("str", "list[str]", "MediaObject")]
    return ".".join(parts) or "body"


def _validation(exc: RequestValidationError) -> JSONResponse:
    fields = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return _error(400, "The request body is not valid JSON")
        fields.append(
            {
                "fieldName": _field_name(tuple(err.get("loc", ()))),
                "description": str(err.get("msg", "invalid")),
            }
        )
    first = fields[0] if fields else {"fieldName": "body", "description": "invalid"}
    return _error(400, f"{first['fieldName']}: {first['description']}", fields)


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


class SimRoute(APIRoute):
    def get_route_handler(self) -> Callable:  # type: ignore[type-arg]
        handler = super().get_route_handler()
        public = (self.openapi_extra or {}).get("security") == []
        has_body = self.body_field is not None

        async def wrapped(request: Request) -> Response:
            try:
                if not public:
                    await authenticate(request, KINDS)
                if has_body:
                    # Parsed whole (inline base64 media): the bytes such bodies hold at once are
                    # bounded per process, a request beyond it refused with 503 (core/budget.py).
                    with ctx(request).simulator.inflight.hold(_body_size(request)):
                        return await handler(await _buffered(request))
                return await handler(request)
            except CoreError as exc:
                kind = exc.kind if exc.status in (413, 415) else None
                return _error(
                    exc.status, exc.description, kind=kind, headers=retry_after_header(exc)
                )
            except BodyTooLarge as exc:
                return _error(413, str(exc))
            except RequestValidationError as exc:
                return _validation(exc)
            except StarletteHTTPException as exc:
                return _error(exc.status_code, str(exc.detail))

        return wrapped


def _body_cap(request: Request) -> int:
    s = ctx(request).settings
    return s.max_body_bytes + s.sim_max_media_bytes * 4 // 3


def _body_size(request: Request) -> int:
    """What the body may hold: its declared length (HTTP framing keeps it to that), else the
    cap (a chunked body)."""
    declared = request.headers.get("content-length", "")
    return min(int(declared), _body_cap(request)) if declared.isdigit() else _body_cap(request)


async def _buffered(request: Request) -> Request:
    """Read the body under the cap and check its type, then replay it to FastAPI's parser."""
    body = await read_body(request, _body_cap(request))
    content_type = request.headers.get("content-type", "")
    if (body or content_type) and not _is_json(content_type):
        raise UnsupportedMediaType(
            f"Content type '{content_type or 'none'}' not supported. Please use 'application/json'"
        )
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


_basic = HTTPBasic(auto_error=False, description="The account's API username and password.")


async def _principal(
    request: Request, _creds: HTTPBasicCredentials | None = Security(_basic)
) -> Principal:
    # SimRoute has authenticated already; this dependency documents the scheme in /docs.
    return request.state.principal  # type: ignore[no-any-return]


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid request"},
    401: {"model": ErrorBody, "description": "Missing or wrong credentials"},
    "4XX": {"model": ErrorBody, "description": "Other client errors, same shape"},
}

router = APIRouter(prefix=PREFIX, tags=["Simulator"], route_class=SimRoute, responses=_ERRORS)


def _media(items: list[str | MediaObject]) -> list[str | MediaItem]:
    """Inline items decoded; URLs are fetched by core (under the SSRF policy)."""
    out: list[str | MediaItem] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(item)
            continue
        try:
            content = base64.b64decode(item.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"media[{i}].content is not valid base64", field=f"media[{i}].content"
            ) from exc
        out.append(
            MediaItem(
                content=content, content_type=item.content_type, name=item.name or f"media{i}"
            )
        )
    return out


@router.post(
    "/messages",
    status_code=202,
    response_model=SendResult,
    summary="A handset texts your numbers",
    description=(
        "The handset `from` (any valid number no account owns) sends a message to platform "
        "numbers of your account. Your application receives `message-received` as from a real "
        "phone. The handset's `sent` record is written in the same transaction."
    ),
    responses={
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        413: {"model": ErrorBody},
        415: {"model": ErrorBody},
    },
)
async def send_from_handset(
    request: Request, body: HandsetSend, principal: Principal = Security(_principal)
) -> SendResult:
    to = [body.to] if isinstance(body.to, str) else list(body.to)
    sent = await ctx(request).simulator.handset_send(
        principal.account_id, body.from_, to, body.text, _media(body.media)
    )
    return SendResult(
        message_ids=sent.message_ids,
        from_=sent.handset,
        to=list(sent.to),
        text=body.text,
        media=sent.media,
        segment_count=sent.segment_count,
        time=iso(sent.time) or "",
    )


# --- GET /sim/v1/handsets/{number}/messages -------------------------------------------------------


def _message_out(r: HandsetMessage) -> HandsetMessageOut:
    received = r.direction == RECEIVED
    return HandsetMessageOut(
        id=r.id,
        message_id=r.message_id,
        direction="received" if received else "sent",
        handset=r.handset,
        platform_number=r.peer,
        from_=r.peer if received else r.handset,
        to=r.handset if received else r.peer,
        text=r.text,
        media=list(r.media or []),
        segments=list(r.segments or []),
        segment_count=len(r.segments or []) or 1,
        time=iso(r.at) or "",
    )


@router.get(
    "/handsets/{number}/messages",
    response_model=HandsetMessages,
    summary="What a handset received and sent",
    description=(
        "The handset's traffic with your account's numbers only, oldest first (the newest "
        "`limit` rows). Poll with `after` (the last `id` you saw) or `since` (a time)."
    ),
)
async def handset_messages(
    request: Request,
    number: str,
    direction: Literal["received", "sent"] | None = Query(None),
    since: str | None = Query(None, description="ISO-8601 time; only rows after it."),
    after: int | None = Query(None, ge=0, description="Only rows with a larger `id`."),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Security(_principal),
) -> HandsetMessages:
    tn, rows = await ctx(request).simulator.handset_log(
        principal.account_id, number, direction=direction, since=since, after=after, limit=limit
    )
    return HandsetMessages(handset=tn, messages=[_message_out(r) for r in rows])


# --- handset behaviour ---------------------------------------------------------------------------


def _behaviour_out(h: sim.HandsetScript) -> BehaviourOut:
    b = h.behaviour
    return BehaviourOut(
        number=h.number,
        reserved=h.reserved,
        scripted=h.scripted,
        failure_code=b.failure_code,
        mode=b.mode,
        error_code=b.error_code,
        delay_seconds=b.delay_seconds,
        auto_reply=b.auto_reply,
        auto_reply_delay_seconds=b.auto_reply_delay_seconds,
        call=h.call.to_json() if h.call is not None else None,
    )


@router.get(
    "/handsets/{number}",
    response_model=BehaviourOut,
    summary="A handset's behaviour",
    description=(
        "What the handset does with messages it is sent (default: deliver) and how it answers "
        "calls (`call`; default: rings about a second and answers)."
    ),
)
async def get_handset(
    request: Request, number: str, principal: Principal = Security(_principal)
) -> BehaviourOut:
    return _behaviour_out(await ctx(request).simulator.script(principal.account_id, number))


@router.put(
    "/handsets/{number}",
    response_model=BehaviourOut,
    summary="Script a handset",
    description=(
        "Set how the handset answers: `deliver` (optionally after `delaySeconds`), `fail` with "
        "`errorCode`, `never_confirm` (no receipt: 9902 after the receipt timeout) or `opt_out` "
        "(4775); `autoReply` makes it text back. A script applies to your account's messages "
        "only."
    ),
    responses={415: {"model": ErrorBody}},
)
async def put_handset(
    request: Request, number: str, body: BehaviourIn, principal: Principal = Security(_principal)
) -> BehaviourOut:
    script = await ctx(request).simulator.set_script(
        principal.account_id, number, body.behaviour(), body.call_script()
    )
    log.info(
        "handset scripted", extra={"handset": script.number, "account_id": principal.account_id}
    )
    return _behaviour_out(script)


@router.delete(
    "/handsets/{number}",
    status_code=204,
    response_class=Response,
    summary="Reset a handset to the default (deliver)",
)
async def delete_handset(
    request: Request, number: str, principal: Principal = Security(_principal)
) -> Response:
    await ctx(request).simulator.reset_script(principal.account_id, number)
    return Response(status_code=204)


# --- GET /sim/v1/reserved-numbers ----------------------------------------------------------------


@router.get(
    "/reserved-numbers",
    response_model=list[ReservedOut],
    summary="The reserved test numbers",
    description=(
        "Numbers with a fixed behaviour in every area code: +1 NPA 555 0100 to 0107 "
        "(a fictional range). No authentication needed."
    ),
    openapi_extra={"security": []},
)
async def reserved_numbers() -> list[ReservedOut]:
    return [
        ReservedOut(
            line=r.line,
            pattern=f"+1NPA555{r.line}",
            example=r.example(),
            summary=r.summary,
            failure_code=r.behaviour.failure_code,
            mode=r.behaviour.mode,
            error_code=r.behaviour.error_code,
            delay_seconds=r.behaviour.delay_seconds,
            auto_reply=r.behaviour.auto_reply,
            auto_reply_delay_seconds=r.behaviour.auto_reply_delay_seconds,
        )
        for r in sim.SimulatorControl.reserved_numbers()
    ]
