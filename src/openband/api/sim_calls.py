"""Simulator control for calls (/sim/v1/calls): a handset calls your numbers, presses keys,
speaks, answers and hangs up; a call's timeline shows what happened on it.

Same conventions as api/sim.py (JSON, the account's Basic credentials, `{"type",
"description"}` errors). A call is addressed by its callId, whichever side placed it; an
account sees only calls of its own numbers. The rules are core/voice's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, Security
from pydantic import Field

from openband.api.context import base_url, ctx
from openband.api.sim import _ERRORS, PREFIX, ErrorBody, SimRoute, _principal, _Wire
from openband.api.voice_v2 import wire as voice_wire
from openband.clock import iso
from openband.core.accounts import Principal
from openband.core.simulator import MAX_SPEECH

router = APIRouter(
    prefix=PREFIX, tags=["Simulator: calls"], route_class=SimRoute, responses=_ERRORS
)


class CallIn(_Wire):
    from_: str = Field(
        alias="from",
        max_length=32,
        description="The handset: any valid number that your account does not own.",
        examples=["+19195550123"],
    )
    to: str = Field(
        max_length=32, description="A number of your account.", examples=["+19195551234"]
    )


class CallOut(_Wire):
    call_id: str = Field(description="The callId your application sees.")
    from_: str = Field(alias="from")
    to: str


class DigitsIn(_Wire):
    digits: str = Field(min_length=1, max_length=50, pattern=r"^[0-9*#A-D]+$", examples=["1"])


class SpeakIn(_Wire):
    text: str = Field(min_length=1, max_length=MAX_SPEECH, examples=["Hello, this is a message."])


class TimelineEntry(_Wire):
    at: str
    kind: str = Field(
        description="webhook, verb, heard, dtmf, gathered, record, recording, answered, "
        "ringing, end, …"
    )
    detail: dict[str, Any]


class Timeline(_Wire):
    call: dict[str, Any] = Field(description="The call as GET …/calls/{callId} shows it.")
    timeline: list[TimelineEntry]


@router.post(
    "/calls",
    status_code=201,
    response_model=CallOut,
    summary="A handset calls one of your numbers",
    description=(
        "The handset rings your number; its location's Voice-V2 application gets `initiate` "
        "and answers with BXML. Returns the callId."
    ),
    responses={404: {"model": ErrorBody}},
)
async def place_call(
    request: Request, body: CallIn, principal: Principal = Security(_principal)
) -> CallOut:
    call_id = await ctx(request).voice.sim_dial(principal.account_id, body.from_, body.to)
    return CallOut(call_id=call_id, from_=body.from_, to=body.to)


@router.get(
    "/calls/{call_id}",
    response_model=Timeline,
    summary="A call and its timeline",
    description=(
        "Each webhook and the BXML it returned, each verb run, what the handset heard (text, "
        "voice, and a URL serving it as WAV), the digits pressed, and the end."
    ),
)
async def call_timeline(
    request: Request, call_id: str, principal: Principal = Security(_principal)
) -> Timeline:
    call, history = await ctx(request).voice.sim_timeline(principal.account_id, call_id)
    base = base_url(request)
    entries = []
    for i, h in enumerate(history):
        detail = dict(h["detail"])
        if h["kind"] == "heard" and detail.get("kind") == "speech":
            detail["url"] = f"{base}{PREFIX}/calls/{call_id}/audio/{i}.wav"
        entries.append(TimelineEntry(at=iso(h["at"]) or "", kind=h["kind"], detail=detail))
    return Timeline(call=voice_wire.call_state(call), timeline=entries)


@router.get(
    "/calls/{call_id}/audio/{index}.wav",
    response_class=Response,
    summary="What the handset heard, as WAV",
    responses={200: {"content": {"audio/wav": {}}}},
)
async def heard_audio(
    request: Request, call_id: str, index: int, principal: Principal = Security(_principal)
) -> Response:
    data = await ctx(request).voice.sim_heard_wav(principal.account_id, call_id, index)
    return Response(data, media_type="audio/wav")


@router.post(
    "/calls/{call_id}/dtmf",
    status_code=204,
    response_class=Response,
    summary="The handset presses keys",
)
async def press(
    request: Request, call_id: str, body: DigitsIn, principal: Principal = Security(_principal)
) -> Response:
    await ctx(request).voice.sim_press(principal.account_id, call_id, body.digits)
    return Response(status_code=204)


@router.post(
    "/calls/{call_id}/speak",
    status_code=204,
    response_class=Response,
    summary="The handset speaks (heard by the application's recordings)",
)
async def speak(
    request: Request, call_id: str, body: SpeakIn, principal: Principal = Security(_principal)
) -> Response:
    await ctx(request).voice.sim_say(principal.account_id, call_id, body.text)
    return Response(status_code=204)


@router.post(
    "/calls/{call_id}/answer",
    status_code=204,
    response_class=Response,
    summary="The handset answers a call ringing it",
)
async def answer(
    request: Request, call_id: str, principal: Principal = Security(_principal)
) -> Response:
    await ctx(request).voice.sim_answer(principal.account_id, call_id)
    return Response(status_code=204)


@router.post(
    "/calls/{call_id}/hangup",
    status_code=204,
    response_class=Response,
    summary="The handset hangs up",
)
async def hang_up(
    request: Request, call_id: str, principal: Principal = Security(_principal)
) -> Response:
    await ctx(request).voice.sim_hang_up(principal.account_id, call_id)
    return Response(status_code=204)
