"""Voice API v2's wire shapes: request bodies to core's typed values, core's values to JSON.

Field names, ranges and defaults are Bandwidth's (specs/python-sdk-bandwidth.yml: createCall,
updateCall, callState, createCallResponse, callRecordingMetadata, the *Callback schemas;
bandwidth-api.md §3). Validation errors read like Bandwidth's: "Invalid <field>: <why>".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from openband.clock import iso, iso_duration
from openband.core.voice.model import (
    Call,
    CallEvent,
    CallUpdate,
    Creds,
    NewCall,
    Recording,
    Target,
)
from openband.errors import InvalidInput

MASK = "*****"
METHODS = ("GET", "POST")


def _invalid(field: str, why: str) -> InvalidInput:
    return InvalidInput(f"Invalid {field}: {why}", field=field)


def _str(
    body: dict[str, Any], key: str, *, required: bool = False, max_len: int | None = None
) -> str | None:
    v = body.get(key)
    if v is None:
        if required:
            raise _invalid(key, "is required")
        return None
    if not isinstance(v, str):
        raise _invalid(key, "must be a string")
    if required and not v.strip():
        raise _invalid(key, "is required")
    if max_len is not None and len(v) > max_len:
        raise _invalid(key, f"must be at most {max_len} characters")
    return v


def _url(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    v = _str(body, key, required=required, max_len=2048)
    if v is None:
        return None
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(key, "must be an absolute http or https URL")
    return v


def _method(body: dict[str, Any], key: str) -> str:
    v = body.get(key)
    if v is None:
        return "POST"
    if not isinstance(v, str) or v.upper() not in METHODS:
        raise _invalid(key, "must be GET or POST")
    return v.upper()


def _number(
    body: dict[str, Any], key: str, lo: float, hi: float, default: float, *, integer: bool = False
) -> float:
    v = body.get(key)
    if v is None:
        return default
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or (integer and not isinstance(v, int))
    ):
        raise _invalid(key, f"must be {'an integer' if integer else 'a number'}")
    if not lo <= v <= hi:
        raise _invalid(key, f"must be between {lo:g} and {hi:g}")
    return v


def _creds(user: str | None, password: str | None) -> Creds | None:
    return Creds(user, password or "") if user else None


def new_call(account_id: str, body: Any) -> NewCall:
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object")
    to = _str(body, "to", required=True)
    sender = _str(body, "from", required=True)
    app_id = _str(body, "applicationId", required=True)
    answer_url = _url(body, "answerUrl", required=True)
    assert to is not None and sender is not None and app_id is not None and answer_url
    user = _str(body, "username", max_len=1024)
    password = _str(body, "password", max_len=1024)
    fb_user = _str(body, "fallbackUsername", max_len=1024)
    fb_password = _str(body, "fallbackPassword", max_len=1024)
    privacy = body.get("privacy")
    if privacy is not None and not isinstance(privacy, bool):
        raise _invalid("privacy", "must be true or false")
    md = body.get("machineDetection")
    if md is not None and not isinstance(md, dict):
        raise _invalid("machineDetection", "must be an object")
    uui = _str(body, "uui", max_len=350)
    return NewCall(
        account_id=account_id,
        application_id=app_id,
        to=to,
        sender=sender,
        answer=Target(
            url=answer_url,
            method=_method(body, "answerMethod"),  # type: ignore[arg-type]
            creds=_creds(user, password),
            fallback_url=_url(body, "answerFallbackUrl"),
            fallback_method=_method(body, "answerFallbackMethod"),  # type: ignore[arg-type]
            fallback_creds=_creds(fb_user, fb_password) or _creds(user, password),
        ),
        disconnect_url=_url(body, "disconnectUrl"),
        disconnect_method=_method(body, "disconnectMethod"),  # type: ignore[arg-type]
        call_timeout=_number(body, "callTimeout", 1, 300, 30),
        callback_timeout=_number(body, "callbackTimeout", 1, 25, 15),
        priority=int(_number(body, "priority", 1, 5, 5, integer=True)),
        tag=_str(body, "tag", max_len=4096) or None,
        uui=uui,
        privacy=privacy,
        display_name=_str(body, "displayName", max_len=256),
        machine_detection=md,
    )


def call_update(body: Any) -> CallUpdate:
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object")
    state = body.get("state") or "active"
    if state not in ("active", "completed"):
        raise _invalid("state", "must be active or completed")
    tag = _str(body, "tag", max_len=4096)
    redirect = None
    url = _url(body, "redirectUrl")
    if state == "active":
        if url is None and tag is None:
            raise _invalid("redirectUrl", "is required when state is active")
        if url is not None:
            user = _str(body, "username", max_len=1024)
            creds = _creds(user, _str(body, "password", max_len=1024))
            fb = _creds(
                _str(body, "fallbackUsername", max_len=1024),
                _str(body, "fallbackPassword", max_len=1024),
            )
            redirect = Target(
                url=url,
                method=_method(body, "redirectMethod"),  # type: ignore[arg-type]
                creds=creds,
                fallback_url=_url(body, "redirectFallbackUrl"),
                fallback_method=_method(body, "redirectFallbackMethod"),  # type: ignore[arg-type]
                fallback_creds=fb or creds,
            )
    return CallUpdate(state=state, redirect=redirect, tag=tag or None, clear_tag=tag == "")


# --- rendering ------------------------------------------------------------------------------


def call_url(base: str, account_id: str, call_id: str) -> str:
    return f"{base}/api/v2/accounts/{quote(account_id, safe='')}/calls/{call_id}"


def create_response(call: Call, base: str) -> dict[str, Any]:
    s = call.settings
    a = s.answer
    assert a is not None
    d = s.disconnect
    return {
        "applicationId": call.application_id,
        "accountId": call.account_id,
        "callId": call.call_id,
        "to": call.to,
        "from": call.sender,
        "enqueuedTime": iso(call.enqueued_time),
        "callUrl": call_url(base, call.account_id, call.call_id),
        "callTimeout": s.call_timeout,
        "callbackTimeout": s.callback_timeout,
        "tag": call.tag,
        "answerMethod": a.method,
        "answerUrl": a.url,
        "answerFallbackMethod": a.fallback_method,
        "answerFallbackUrl": a.fallback_url,
        "disconnectMethod": d.method if d else "POST",
        "disconnectUrl": d.url if d else None,
        "username": a.creds.username if a.creds else None,
        "password": MASK if a.creds else None,
        "fallbackUsername": a.fallback_creds.username if a.fallback_creds else None,
        "fallbackPassword": MASK if a.fallback_creds else None,
        "priority": call.priority,
    }


def call_state(call: Call) -> dict[str, Any]:
    return {
        "applicationId": call.application_id,
        "accountId": call.account_id,
        "callId": call.call_id,
        "parentCallId": call.parent_call_id,
        "to": call.to,
        "from": call.sender,
        "direction": call.direction,
        "state": call.state,
        "stirShaken": None,
        "identity": None,
        "enqueuedTime": iso(call.enqueued_time),
        "startTime": iso(call.start_time),
        "answerTime": iso(call.answer_time),
        "endTime": iso(call.end_time),
        "disconnectCause": call.disconnect_cause,
        "errorMessage": call.error_message,
        "errorId": call.error_id,
        "lastUpdate": iso(call.last_update),
    }


def recording(r: Recording, base: str) -> dict[str, Any]:
    # parentCallId, transferCallerId, transferTo and recordingName are not nullable in
    # callRecordingMetadata ("Otherwise, this field will not be present"): absent, never null
    # (npm bandwidth-sdk types them `string`; tests/compat/test_voice_node.py).
    return {
        "applicationId": r.application_id,
        "accountId": r.account_id,
        "callId": r.call_id,
        "recordingId": r.recording_id,
        "to": r.to,
        "from": r.sender,
        "duration": iso_duration(r.duration),
        "direction": r.direction,
        "channels": r.channels,
        "startTime": iso(r.start_time),
        "endTime": iso(r.end_time),
        "fileFormat": r.file_format,
        "status": r.status,
        "mediaUrl": f"{call_url(base, r.account_id, r.call_id)}/recordings/{r.recording_id}/media",
    }


# Which of the call's own fields each webhook carries (specs: the *Callback schemas).
_TIMES: dict[str, tuple[str, ...]] = {
    "initiate": ("startTime",),
    "answer": ("enqueuedTime", "startTime", "answerTime"),
    "disconnect": ("enqueuedTime", "startTime", "answerTime"),
    "redirect": ("enqueuedTime", "startTime", "answerTime"),
    "gather": ("enqueuedTime", "startTime", "answerTime"),
    "dtmf": ("enqueuedTime", "startTime", "answerTime"),
    "recordComplete": ("enqueuedTime", "startTime", "answerTime"),
    "recordingAvailable": ("enqueuedTime", "startTime"),
}
_NO_TAG = frozenset({"initiate"})


def webhook(event: CallEvent, base: str) -> dict[str, Any]:
    """A call webhook's JSON body: eventType, eventTime, the call's common fields, then the
    event's own (core gives them in wire names)."""
    call = event.call
    body: dict[str, Any] = {
        "eventType": event.event_type,
        "eventTime": iso(event.at),
        "accountId": call.account_id,
        "applicationId": call.application_id,
        "from": call.sender,
        "to": call.to,
        "direction": call.direction,
        "callId": call.call_id,
        "callUrl": call_url(base, call.account_id, call.call_id),
    }
    times: dict[str, datetime | None] = {
        "enqueuedTime": call.enqueued_time,
        "startTime": call.start_time,
        "answerTime": call.answer_time,
    }
    for name in _TIMES.get(event.event_type, ("startTime",)):
        if times[name] is not None:
            body[name] = iso(times[name])
    extra = dict(event.extra)
    tag = extra.pop("tag", None)
    body.update({k: v for k, v in extra.items() if v is not None})
    if event.event_type not in _NO_TAG and tag is not None:
        body["tag"] = tag
    return body
