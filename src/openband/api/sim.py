"""OpenBand's own simulator control API (/sim/v1): script handsets, text from them, read their log.

Not a Bandwidth API: JSON in and out, HTTP Basic with the account's username:password, errors as
`{"type", "description"}` (plus `fieldErrors` on validation) like Messaging v2. An account sees
only the simulator traffic that involves its own numbers. Handset behaviours are platform-wide,
like a real phone's (see docs/simulator.md).

SimRoute authenticates before the body is read, caps the body size, insists on JSON, and turns
every error (core, validation, oversized body) into that shape: FastAPI's 422 never leaks.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

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
from openband.api.context import AppContext, ctx
from openband.clock import iso, now, parse_iso
from openband.core import segments
from openband.core.accounts import KIND_BASIC, Principal
from openband.core.phone import to_e164
from openband.delivery.http import HttpClient, MediaError, MediaTooLarge
from openband.errors import CoreError, Forbidden, InvalidInput, NotFound
from openband.network import simulator as sim
from openband.network.base import CarrierSink, MediaItem
from openband.store import numbers

log = logging.getLogger(__name__)

PREFIX = "/sim/v1"
KINDS = (KIND_BASIC,)
MAX_RECIPIENTS = 10
MAX_MEDIA = 10
MAX_URL = 4096

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


class TooLarge(CoreError):
    status = 413
    kind = "request-entity-too-large"


class UnsupportedMediaType(CoreError):
    status = 415
    kind = "unsupported-content-type"


class Unavailable(CoreError):
    status = 503
    kind = "service-unavailable"


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
    text: str = Field("", max_length=sim.MAX_TEXT)
    media: list[str | MediaObject] = Field(
        default_factory=list,
        max_length=MAX_MEDIA,
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

    def behaviour(self) -> sim.Behaviour:
        return sim.Behaviour(
            mode=self.mode,
            error_code=self.error_code,
            delay_seconds=self.delay_seconds,
            auto_reply=self.auto_reply,
            auto_reply_delay_seconds=self.auto_reply_delay_seconds,
        ).validate()


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
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": kind or ERROR_TYPES.get(status, "error"),
        "description": description,
    }
    if field_errors:
        body["fieldErrors"] = field_errors
    headers = {"WWW-Authenticate": 'Basic realm="OpenBand"'} if status == 401 else None
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
                    request = await _buffered(request)
                return await handler(request)
            except CoreError as exc:
                kind = exc.kind if exc.status in (413, 415, 503) else None
                return _error(exc.status, exc.description, kind=kind)
            except BodyTooLarge as exc:
                return _error(413, str(exc))
            except RequestValidationError as exc:
                return _validation(exc)
            except StarletteHTTPException as exc:
                return _error(exc.status_code, str(exc.detail))

        return wrapped


async def _buffered(request: Request) -> Request:
    """Read the body under the cap and check its type, then replay it to FastAPI's parser."""
    c = ctx(request)
    limit = c.settings.max_body_bytes + c.settings.sim_max_media_bytes * 4 // 3
    body = await read_body(request, limit)
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


def _sink(c: AppContext) -> CarrierSink:
    sink = sim.sink_from(c.extras)
    if sink is None:
        raise Unavailable("Messaging is not running on this server (no messaging sink)")
    return sink


def _wake(c: AppContext) -> None:
    """After a commit that enqueued work: run it now instead of at the next poll."""
    if c.workers is not None:
        c.workers.wake()
    delivery = c.extras.get("delivery")
    wake = getattr(delivery, "wake", None)
    if callable(wake):
        wake()


async def _not_on_net(c: AppContext, tn: str) -> None:
    async with c.db.connect() as conn:
        if await numbers.get(conn, tn) is not None:
            raise InvalidInput(
                f"{tn} is a number on this platform; on-net numbers are not handsets",
                field="number",
            )


# --- POST /sim/v1/messages -----------------------------------------------------------------------


def _recipients(body: HandsetSend) -> tuple[str, tuple[str, ...]]:
    handset = to_e164(body.from_, field="from")
    raw = [body.to] if isinstance(body.to, str) else list(body.to)
    if not raw:
        raise InvalidInput("to must name at least one number", field="to")
    if len(raw) > MAX_RECIPIENTS:
        raise InvalidInput(f"to may name at most {MAX_RECIPIENTS} numbers", field="to")
    to: list[str] = []
    for value in raw:
        tn = to_e164(value, field="to")
        if tn not in to:
            to.append(tn)
    if handset in to:
        raise InvalidInput("a handset cannot text itself", field="to")
    if not body.text and not body.media:
        raise InvalidInput("text or media is required", field="text")
    return handset, tuple(to)


def _check_owners(
    owners: dict[str, str], handset: str, to: tuple[str, ...], account_id: str
) -> dict[str, str]:
    """Platform recipients -> account; every one must be the caller's."""
    if handset in owners:
        raise InvalidInput(
            f"from {handset} is a number on this platform, not a handset; "
            "send from it with the Messaging API",
            field="from",
        )
    platform = {tn: owners[tn] for tn in to if tn in owners}
    if not platform:
        raise NotFound("None of the numbers in to is in service on this platform")
    foreign = [tn for tn, acct in platform.items() if acct != account_id]
    if foreign:
        raise Forbidden(f"{', '.join(foreign)} is not a number of your account")
    return platform


def _media_name(url: str, index: int) -> str:
    tail = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return tail[:255] or f"media{index}"


async def _load_media(c: AppContext, items: list[str | MediaObject]) -> tuple[MediaItem, ...]:
    """Fetch or decode the media before the transaction: no network I/O under the write lock."""
    budget = c.settings.sim_max_media_bytes
    out: list[MediaItem] = []
    client: HttpClient | None = None
    own_client = False
    try:
        for i, item in enumerate(items):
            if isinstance(item, MediaObject):
                try:
                    content = base64.b64decode(item.content, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidInput(
                        f"media[{i}].content is not valid base64", field=f"media[{i}].content"
                    ) from exc
                name = item.name or f"media{i}"
                ctype = item.content_type
            else:
                if len(item) > MAX_URL or urlsplit(item).scheme not in ("http", "https"):
                    raise InvalidInput(
                        f"media[{i}] must be an http(s) URL of at most {MAX_URL} characters",
                        field=f"media[{i}]",
                    )
                if client is None:
                    shared = c.extras.get("http")
                    if isinstance(shared, HttpClient):
                        client = shared
                    else:
                        client, own_client = HttpClient.from_settings(c.settings), True
                try:
                    content, ctype = await client.fetch_media(item, max_bytes=max(budget, 0))
                except MediaTooLarge as exc:
                    raise TooLarge(f"media[{i}]: {exc}") from None
                except MediaError as exc:
                    raise InvalidInput(f"media[{i}]: {exc}", field=f"media[{i}]") from None
                name = _media_name(item, i)
            budget -= len(content)
            if budget < 0:
                raise TooLarge(f"media exceed {c.settings.sim_max_media_bytes} bytes in total")
            out.append(MediaItem(content=content, content_type=ctype, name=name))
    finally:
        if own_client and client is not None:
            await client.close()
    return tuple(out)


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
    c = ctx(request)
    handset, to = _recipients(body)
    sink = _sink(c)
    # Refuse early, before any media is fetched; checked again inside the transaction.
    async with c.db.connect() as conn:
        _check_owners(
            await numbers.owned_among(conn, [handset, *to]), handset, to, principal.account_id
        )
    media = await _load_media(c, body.media)
    async with c.db.begin() as conn:
        owners = _check_owners(
            await numbers.owned_among(conn, [handset, *to]), handset, to, principal.account_id
        )
        ids = await sim.handset_send(
            conn, sink, handset=handset, to=to, owners=owners, text=body.text, media=media
        )
    _wake(c)
    mms = bool(media) or len(to) > 1
    return SendResult(
        message_ids=ids,
        from_=handset,
        to=list(to),
        text=body.text,
        media=[m.name for m in media],
        segment_count=segments.message_segment_count(body.text, mms=mms),
        time=iso(now()) or "",
    )


# --- GET /sim/v1/handsets/{number}/messages -------------------------------------------------------


def _message_out(r: sim.HandsetMessage) -> HandsetMessageOut:
    received = r.direction == sim.RECEIVED
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
    c = ctx(request)
    tn = to_e164(number, field="number")
    since_dt = None
    if since:
        try:
            since_dt = parse_iso(since)
        except ValueError:
            raise InvalidInput(f"since '{since}' is not an ISO-8601 time", field="since") from None
    async with c.db.connect() as conn:
        rows = await sim.handset_messages(
            conn,
            tn,
            principal.account_id,
            direction=direction,
            since=since_dt,
            after_id=after,
            limit=limit,
        )
    return HandsetMessages(handset=tn, messages=[_message_out(r) for r in rows])


# --- handset behaviour ---------------------------------------------------------------------------


def _behaviour_out(tn: str, b: sim.Behaviour, *, reserved: bool, scripted: bool) -> BehaviourOut:
    return BehaviourOut(
        number=tn,
        reserved=reserved,
        scripted=scripted,
        failure_code=b.failure_code,
        mode=b.mode,
        error_code=b.error_code,
        delay_seconds=b.delay_seconds,
        auto_reply=b.auto_reply,
        auto_reply_delay_seconds=b.auto_reply_delay_seconds,
    )


def _not_reserved(tn: str) -> None:
    if sim.reserved(tn) is not None:
        raise InvalidInput(
            f"{tn} is a reserved test number with a fixed behaviour "
            "(see GET /sim/v1/reserved-numbers)",
            field="number",
        )


@router.get(
    "/handsets/{number}",
    response_model=BehaviourOut,
    summary="A handset's behaviour",
    description="What the handset does with messages it is sent (default: deliver).",
)
async def get_handset(
    request: Request, number: str, principal: Principal = Security(_principal)
) -> BehaviourOut:
    c = ctx(request)
    tn = to_e164(number, field="number")
    await _not_on_net(c, tn)
    fixed = sim.reserved(tn)
    if fixed is not None:
        return _behaviour_out(tn, fixed.behaviour, reserved=True, scripted=False)
    async with c.db.connect() as conn:
        stored = await sim.stored_behaviour(conn, tn)
    return _behaviour_out(tn, stored or sim.DEFAULT, reserved=False, scripted=stored is not None)


@router.put(
    "/handsets/{number}",
    response_model=BehaviourOut,
    summary="Script a handset",
    description=(
        "Set how the handset answers: `deliver` (optionally after `delaySeconds`), `fail` with "
        "`errorCode`, `never_confirm` (no receipt: 9902 after the receipt timeout) or `opt_out` "
        "(4775); `autoReply` makes it text back. Behaviours are platform-wide."
    ),
    responses={415: {"model": ErrorBody}},
)
async def put_handset(
    request: Request, number: str, body: BehaviourIn, principal: Principal = Security(_principal)
) -> BehaviourOut:
    c = ctx(request)
    tn = to_e164(number, field="number")
    _not_reserved(tn)
    behaviour = body.behaviour()
    await _not_on_net(c, tn)
    async with c.db.begin() as conn:
        await sim.put_behaviour(conn, tn, behaviour)
    log.info("handset scripted", extra={"handset": tn, "account_id": principal.account_id})
    return _behaviour_out(tn, behaviour, reserved=False, scripted=True)


@router.delete(
    "/handsets/{number}",
    status_code=204,
    response_class=Response,
    summary="Reset a handset to the default (deliver)",
)
async def delete_handset(
    request: Request, number: str, principal: Principal = Security(_principal)
) -> Response:
    c = ctx(request)
    tn = to_e164(number, field="number")
    _not_reserved(tn)
    await _not_on_net(c, tn)
    async with c.db.begin() as conn:
        await sim.delete_behaviour(conn, tn)
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
        for r in sim.RESERVED.values()
    ]
