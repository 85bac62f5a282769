"""Drive PyPI bandwidth-sdk==23.3.1 (OpenAPI-generated, unmodified) against a live OpenBand:
Voice v2 calls and recordings (CallsApi, RecordingsApi, BXML).

Run by the SDK's own venv:  .venv-compat-sdk/bin/python voice_py.py DASH ACCOUNT USER PASS
(DASH is the Dashboard endpoint, http://127.0.0.1:PORT/api; the SDK gets PORT/api/v2). The
pytest fixture provisions a Voice-V2 application first and passes, in the environment:
  OB_VOICE_APP_ID   the application
  OB_VOICE_NUMBERS  its numbers (comma-separated, E.164)
  OB_VOICE_HANDSET  a simulator handset that answers after 2 s (and speaks after "message")
  OB_VOICE_HOOKS    the webhook receiver's base URL for this driver (…/py): it answers
                    /answer, /redirected and /record with BXML
Prints ONE JSON object: {"sdk", "steps": {name: {"ok", "value", "error", "http": [...]}}}.

The SDK's `_with_http_info` variants are used, so the exact status codes are reported (the SDK
silently returns None on a 2xx other than the documented one). The simulator's call timeline
(GET /sim/v1/calls/{id}, the phone network's side, not an SDK call) tells when what the handset
hears has changed.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import traceback
import urllib.request
from datetime import datetime

import bandwidth
from bandwidth import rest
from bandwidth.exceptions import ApiException, ConflictException, NotFoundException
from bandwidth.models.bxml import Bxml, Pause, SpeakSentence

DASH, ACCOUNT, USER, PASSWORD = sys.argv[1:5]
ROOT = DASH.rsplit("/api", 1)[0]
BASE = ROOT + "/api/v2"
APP_ID = os.environ["OB_VOICE_APP_ID"]
NUMBERS = os.environ["OB_VOICE_NUMBERS"].split(",")
HANDSET = os.environ["OB_VOICE_HANDSET"]
HOOKS = os.environ["OB_VOICE_HOOKS"]
WAIT = 30.0

steps: dict[str, dict] = {}
_http: list[dict] = []
_orig_request = rest.RESTClientObject.request


def _recording_request(self, method, url, headers=None, body=None, *args, **kwargs):  # type: ignore[no-untyped-def]
    entry: dict = {"method": method, "url": url, "status": None}
    if isinstance(body, (bytes, bytearray)):
        entry["request_body"] = f"<{len(body)} bytes>"
    elif isinstance(body, str):
        entry["request_body"] = body[:1500]
    elif body is not None:
        entry["request_body"] = json.dumps(body)[:1500]
    entry["request_content_type"] = (headers or {}).get("Content-Type")
    _http.append(entry)
    try:
        resp = _orig_request(self, method, url, headers, body, *args, **kwargs)
    except Exception as exc:
        entry["body"] = repr(exc)
        raise
    data = resp.read()
    entry["status"] = resp.status
    entry["headers"] = {
        k: v
        for k, v in resp.getheaders().items()
        if k.lower() in ("content-type", "content-length", "location", "link")
    }
    if data and not (resp.getheader("content-type") or "").startswith("audio/"):
        entry["body"] = data[:1500].decode("utf-8", "replace")
    else:
        entry["body"] = f"<{len(data)} bytes>"
    return resp


rest.RESTClientObject.request = _recording_request  # type: ignore[method-assign]


def run(name, fn, *needs):  # type: ignore[no-untyped-def]
    """Run one SDK step; record its value or its error and the HTTP it made."""
    missing = [n for n in needs if not steps.get(n, {}).get("ok")]
    if missing:
        steps[name] = {"ok": False, "value": None, "error": f"not run: needs {missing}", "http": []}
        return None
    del _http[:]
    try:
        value = fn()
        steps[name] = {"ok": True, "value": value, "error": None, "http": list(_http)}
        return value
    except Exception as exc:
        tb = traceback.format_exc().strip().splitlines()
        steps[name] = {
            "ok": False,
            "value": None,
            "error": f"{type(exc).__name__}: {exc} | {' / '.join(tb[-4:])}"[:3000],
            "http": list(_http),
        }
        return None


cfg = bandwidth.Configuration(
    host=BASE, ignore_operation_servers=True, username=USER, password=PASSWORD
)
api = bandwidth.ApiClient(cfg)
calls = bandwidth.CallsApi(api)
recordings = bandwidth.RecordingsApi(api)
state: dict = {}


def enum(v):  # type: ignore[no-untyped-def]
    return getattr(v, "value", v)


def when(v):  # type: ignore[no-untyped-def]
    return v.isoformat() if isinstance(v, datetime) else v


def typed(model, *names: str) -> dict:  # type: ignore[no-untyped-def]
    """The Python types the SDK's deserialisation produced for these fields."""
    return {n: type(getattr(model, n)).__name__ for n in names}


# --- the simulator's view (not the SDK) -----------------------------------------------------------


def sim_heard(call_id: str) -> list[str]:
    req = urllib.request.Request(f"{ROOT}/sim/v1/calls/{call_id}")
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        timeline = json.load(r)["timeline"]
    return [e["detail"].get("text") or "" for e in timeline if e["kind"] == "heard"]


def wait_heard(call_id: str, text: str) -> list[str]:
    deadline = time.monotonic() + WAIT
    while True:
        heard = sim_heard(call_id)
        if text in heard:
            return heard
        if time.monotonic() > deadline:
            raise AssertionError(f"the handset did not hear {text!r} in {WAIT}s; heard {heard}")
        time.sleep(0.1)


# --- calls ----------------------------------------------------------------------------------------


def describe_state(s: bandwidth.CallState) -> dict:
    if not isinstance(s, bandwidth.CallState):
        raise TypeError(f"expected a bandwidth.CallState, got {type(s).__name__}: {s!r}")
    return {
        "call_id": s.call_id,
        "account_id": s.account_id,
        "application_id": s.application_id,
        "to": s.to,
        "from": s.var_from,
        "direction": enum(s.direction),
        "state": s.state,
        "enqueued_time": when(s.enqueued_time),
        "start_time": when(s.start_time),
        "answer_time": when(s.answer_time),
        "end_time": when(s.end_time),
        "disconnect_cause": s.disconnect_cause,
        "last_update": when(s.last_update),
        "types": typed(s, "direction", "start_time", "answer_time", "end_time", "last_update"),
        "additional_properties": sorted(s.additional_properties),
    }


def create(answer: str, tag: str | None = None) -> dict:
    req = bandwidth.CreateCall(
        to=HANDSET,
        var_from=NUMBERS[0],
        application_id=APP_ID,
        answer_url=f"{HOOKS}/{answer}",
        disconnect_url=f"{HOOKS}/disconnect",
        tag=tag,
    )
    resp = calls.create_call_with_http_info(ACCOUNT, req)
    c = resp.data
    if not isinstance(c, bandwidth.CreateCallResponse):
        raise TypeError(f"create_call returned {c!r} (status {resp.status_code})")
    return {
        "status": resp.status_code,
        "location": next((v for k, v in resp.headers.items() if k.lower() == "location"), None),
        "call_id": c.call_id,
        "account_id": c.account_id,
        "application_id": c.application_id,
        "to": c.to,
        "from": c.var_from,
        "call_url": c.call_url,
        "enqueued_time": when(c.enqueued_time),
        "call_timeout": c.call_timeout,
        "callback_timeout": c.callback_timeout,
        "answer_url": c.answer_url,
        "answer_method": enum(c.answer_method),
        "disconnect_url": c.disconnect_url,
        "disconnect_method": enum(c.disconnect_method),
        "tag": c.tag,
        "priority": c.priority,
        "types": typed(c, "enqueued_time", "answer_method", "disconnect_method", "priority"),
        "additional_properties": sorted(c.additional_properties),
    }


def wait_state(call_id: str, want: str) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        resp = calls.get_call_state_with_http_info(ACCOUNT, call_id)
        if resp.data is None:
            raise TypeError(f"get_call_state returned None (status {resp.status_code})")
        if resp.data.state == want or time.monotonic() > deadline:
            return {"status": resp.status_code, **describe_state(resp.data)}
        time.sleep(0.1)


def create_call() -> dict:
    out = create("answer", tag="py-call")
    state["call"] = out["call_id"]
    return out


def answered() -> dict:
    return wait_state(state["call"], "answered")


def list_calls() -> dict:
    by_to = calls.list_calls_with_http_info(ACCOUNT, to=HANDSET)
    by_from = calls.list_calls_with_http_info(ACCOUNT, var_from=NUMBERS[0], page_size=100)
    nobody = calls.list_calls_with_http_info(ACCOUNT, to="+19845550100")
    for r in (by_to, by_from, nobody):
        if not isinstance(r.data, list) or not all(
            isinstance(x, bandwidth.CallState) for x in r.data
        ):
            raise TypeError(f"list_calls returned {r.data!r}")
    return {
        "statuses": [by_to.status_code, by_from.status_code, nobody.status_code],
        "by_to": [describe_state(x) for x in by_to.data],
        "by_from_ids": [x.call_id for x in by_from.data],
        "nobody": len(nobody.data),
    }


def redirect() -> dict:
    upd = bandwidth.UpdateCall(
        state=bandwidth.CallStateEnum.ACTIVE, redirect_url=f"{HOOKS}/redirected"
    )
    resp = calls.update_call_with_http_info(ACCOUNT, state["call"], upd)
    heard = wait_heard(state["call"], "Redirected")
    return {"status": resp.status_code, "data": resp.data, "heard": heard}


def update_bxml() -> dict:
    doc = Bxml([SpeakSentence(text="Replaced by the SDK"), Pause(duration=60)]).to_bxml()
    resp = calls.update_call_bxml_with_http_info(ACCOUNT, state["call"], doc)
    heard = wait_heard(state["call"], "Replaced by the SDK")
    return {"status": resp.status_code, "data": resp.data, "bxml": doc, "heard": heard}


def hang_up() -> dict:
    upd = bandwidth.UpdateCall(state=bandwidth.CallStateEnum.COMPLETED)
    resp = calls.update_call_with_http_info(ACCOUNT, state["call"], upd)
    return {
        "status": resp.status_code,
        "data": resp.data,
        "after": wait_state(state["call"], "disconnected"),
    }


# --- recordings -----------------------------------------------------------------------------------


def describe_recording(m: bandwidth.CallRecordingMetadata) -> dict:
    if not isinstance(m, bandwidth.CallRecordingMetadata):
        raise TypeError(f"expected CallRecordingMetadata, got {type(m).__name__}: {m!r}")
    return {
        "recording_id": m.recording_id,
        "call_id": m.call_id,
        "account_id": m.account_id,
        "application_id": m.application_id,
        "to": m.to,
        "from": m.var_from,
        "direction": enum(m.direction),
        "duration": m.duration,
        "channels": m.channels,
        "start_time": when(m.start_time),
        "end_time": when(m.end_time),
        "file_format": enum(m.file_format),
        "status": m.status,
        "media_url": m.media_url,
        "types": typed(m, "direction", "channels", "start_time", "end_time", "file_format"),
        "additional_properties": sorted(m.additional_properties),
    }


def record_call() -> dict:
    out = create("record")
    state["rec_call"] = out["call_id"]
    return {"create": out, "after": wait_state(out["call_id"], "disconnected")}


def list_call_recordings() -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        resp = recordings.list_call_recordings_with_http_info(ACCOUNT, state["rec_call"])
        items = resp.data
        if not isinstance(items, list):
            raise TypeError(f"list_call_recordings returned {items!r} (status {resp.status_code})")
        if items or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if items:
        state["recording"] = items[0].recording_id
    return {"status": resp.status_code, "items": [describe_recording(m) for m in items]}


def get_call_recording() -> dict:
    resp = recordings.get_call_recording_with_http_info(
        ACCOUNT, state["rec_call"], state["recording"]
    )
    return {"status": resp.status_code, "recording": describe_recording(resp.data)}


def download_call_recording() -> dict:
    resp = recordings.download_call_recording_with_http_info(
        ACCOUNT, state["rec_call"], state["recording"]
    )
    data = resp.data
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"download_call_recording returned {type(data).__name__}")
    head = bytes(data[:12])
    return {
        "status": resp.status_code,
        "type": type(data).__name__,
        "size": len(data),
        "riff": head[:4].decode("latin-1"),
        "wave": head[8:12].decode("latin-1"),
        "content_type": next(
            (v for k, v in (resp.headers or {}).items() if k.lower() == "content-type"), None
        ),
    }


# --- errors (VoiceApiError) -----------------------------------------------------------------------


def api_error(call, expected: type) -> dict:  # type: ignore[no-untyped-def]
    try:
        call()
    except ApiException as exc:
        data = exc.data
        return {
            "exception": type(exc).__name__,
            "is_expected": isinstance(exc, expected),
            "status": exc.status,
            "data_type": type(data).__name__,
            "type": getattr(data, "type", None),
            "description": getattr(data, "description", None),
            "additional_properties": sorted(getattr(data, "additional_properties", None) or []),
        }
    raise AssertionError("the call did not raise")


def error_not_found() -> dict:
    return api_error(lambda: calls.get_call_state(ACCOUNT, "c-00000000-nobody"), NotFoundException)


def error_ended_call() -> dict:
    upd = bandwidth.UpdateCall(
        state=bandwidth.CallStateEnum.ACTIVE, redirect_url=f"{HOOKS}/redirected"
    )
    return api_error(lambda: calls.update_call(ACCOUNT, state["call"], upd), ConflictException)


run("create_call", create_call)
run("answered", answered, "create_call")
run("list_calls", list_calls, "answered")
run("redirect", redirect, "answered")
run("update_bxml", update_bxml, "answered")
run("hang_up", hang_up, "answered")
run("error_not_found", error_not_found)
run("error_ended_call", error_ended_call, "hang_up")
run("record_call", record_call)
run("list_call_recordings", list_call_recordings, "record_call")
run("get_call_recording", get_call_recording, "list_call_recordings")
run("download_call_recording", download_call_recording, "list_call_recordings")

print(json.dumps({"sdk": "bandwidth-sdk==23.3.1", "base": BASE, "steps": steps}, default=str))
