"""Drive PyPI bandwidth-sdk==23.3.1 (OpenAPI-generated, unmodified) against a live OpenBand:
Messaging v2 messages and media.

Run by the SDK's own venv:  .venv-compat-sdk/bin/python messaging_py.py DASH ACCOUNT USER PASS
(DASH is the Dashboard endpoint, http://127.0.0.1:PORT/api; the SDK gets PORT/api/v2). The
pytest fixture provisions the account first and passes, in the environment:
  OB_MSG_APP_ID   the Messaging-V2 application
  OB_MSG_NUMBERS  two ordered numbers on its location (comma-separated, E.164)
  OB_MSG_HANDSETS three simulator handsets (numbers nobody owns)
  OB_MSG_TAG      the tag every message carries (to find its callbacks)
Prints ONE JSON object: {"sdk", "steps": {name: {"ok", "value", "error", "http": [...]}}}.
Every HTTP exchange is recorded by wrapping bandwidth.rest.RESTClientObject.request (the SDK's
only transport entry point); the requests the SDK builds are not changed.

The SDK checks exact status codes itself (a 2xx other than the documented one makes a method
return None), so the `_with_http_info` variants are used and their status codes reported.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import uuid

import bandwidth
from bandwidth import rest
from bandwidth.exceptions import (
    ApiException,
    BadRequestException,
    NotFoundException,
    UnauthorizedException,
)

DASH, ACCOUNT, USER, PASSWORD = sys.argv[1:5]
BASE = DASH.rsplit("/api", 1)[0] + "/api/v2"
APP_ID = os.environ["OB_MSG_APP_ID"]
NUMBERS = os.environ["OB_MSG_NUMBERS"].split(",")
HANDSETS = os.environ["OB_MSG_HANDSETS"].split(",")
TAG = os.environ["OB_MSG_TAG"]
LIST_TIMEOUT = 20.0

steps: dict[str, dict] = {}
_http: list[dict] = []
_orig_request = rest.RESTClientObject.request


def _recording_request(self, method, url, headers=None, body=None, *args, **kwargs):  # type: ignore[no-untyped-def]
    entry: dict = {"method": method, "url": url, "status": None}
    if isinstance(body, (bytes, bytearray)):
        entry["request_body"] = f"<{len(body)} bytes>"
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
        if k.lower() in ("content-type", "location", "www-authenticate")
    }
    entry["body"] = data[:1500].decode("utf-8", "replace") if data else ""
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


def client(password: str = PASSWORD) -> bandwidth.ApiClient:
    cfg = bandwidth.Configuration(
        host=BASE, ignore_operation_servers=True, username=USER, password=password
    )
    return bandwidth.ApiClient(cfg)


api = client()
messages = bandwidth.MessagesApi(api)
media = bandwidth.MediaApi(api)
state: dict = {}
RUN = uuid.uuid4().hex[:10]
TEXT_MEDIA = f"compat-py/{RUN}/note.txt"
TEXT_BYTES = f"hello from bandwidth-sdk 23.3.1 {RUN}\n".encode()
# Not valid UTF-8 and not JSON: the bytes must come back untouched.
PNG_MEDIA = f"compat-py/{RUN}/pixel.png"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def enum(v):  # type: ignore[no-untyped-def]
    return getattr(v, "value", v)


def describe_message(m: bandwidth.Message) -> dict:
    """The SDK model as parsed, with the Python types it produced (the model is strict)."""
    if not isinstance(m, bandwidth.Message):
        raise TypeError(f"expected a bandwidth.Message, got {type(m).__name__}: {m!r}")
    return {
        "id": m.id,
        "owner": m.owner,
        "application_id": m.application_id,
        "time": m.time.isoformat() if m.time else None,
        "time_type": type(m.time).__name__,
        "segment_count": m.segment_count,
        "segment_count_type": type(m.segment_count).__name__,
        "direction": enum(m.direction),
        "direction_type": type(m.direction).__name__,
        "to": m.to,
        "from": m.var_from,
        "text": m.text,
        "media": m.media,
        "tag": m.tag,
        "priority": enum(m.priority),
        "additional_properties": sorted(m.additional_properties),
    }


def send(to: list[str], text: str, media_urls: list[str] | None = None) -> dict:
    req = bandwidth.MessageRequest(
        application_id=APP_ID, to=to, var_from=NUMBERS[0], text=text, media=media_urls, tag=TAG
    )
    resp = messages.create_message_with_http_info(ACCOUNT, req)
    out = {"status": resp.status_code, **describe_message(resp.data)}
    state.setdefault("sent", []).append(out["id"])
    return out


# --- media --------------------------------------------------------------------------------------


def header(headers, name: str):  # type: ignore[no-untyped-def]
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)


def media_upload() -> dict:
    r1 = media.upload_media_with_http_info(
        ACCOUNT, TEXT_MEDIA, TEXT_BYTES, _content_type="text/plain"
    )
    r2 = media.upload_media_with_http_info(
        ACCOUNT, PNG_MEDIA, PNG_BYTES, _content_type="image/png", cache_control="no-cache"
    )
    return {"statuses": [r1.status_code, r2.status_code], "data": [r1.data, r2.data]}


def media_list() -> dict:
    resp = media.list_media_with_http_info(ACCOUNT)
    items = resp.data
    mine = {}
    for m in items:
        if not isinstance(m, bandwidth.Media):
            raise TypeError(f"list_media item is {type(m).__name__}, not bandwidth.Media")
        if m.media_name in (TEXT_MEDIA, PNG_MEDIA):
            mine[m.media_name] = {
                "content": m.content,
                "content_length": m.content_length,
                "content_length_type": type(m.content_length).__name__,
            }
    state["media_urls"] = {k: v["content"] for k, v in mine.items()}
    return {
        "status": resp.status_code,
        "type": type(items).__name__,
        "count": len(items),
        "mine": mine,
        "expected": {TEXT_MEDIA: len(TEXT_BYTES), PNG_MEDIA: len(PNG_BYTES)},
    }


def media_get() -> dict:
    text = media.get_media_with_http_info(ACCOUNT, TEXT_MEDIA)
    png = media.get_media_with_http_info(ACCOUNT, PNG_MEDIA)
    return {
        "statuses": [text.status_code, png.status_code],
        "types": [type(text.data).__name__, type(png.data).__name__],
        "text_equal": bytes(text.data) == TEXT_BYTES,
        "png_equal": bytes(png.data) == PNG_BYTES,
        "content_types": [
            header(text.headers, "content-type"),
            header(png.headers, "content-type"),
        ],
    }


def media_delete() -> dict:
    resp = media.delete_media_with_http_info(ACCOUNT, TEXT_MEDIA)
    out: dict = {"status": resp.status_code, "data": resp.data}
    try:
        media.get_media(ACCOUNT, TEXT_MEDIA)
        out["get_after_delete"] = "no error"
    except NotFoundException as exc:
        out["get_after_delete"] = exc.status
    out["listed_after_delete"] = TEXT_MEDIA in {m.media_name for m in media.list_media(ACCOUNT)}
    return out


# --- messages -----------------------------------------------------------------------------------


def sms_create() -> dict:
    return send([HANDSETS[0]], f"sms from bandwidth-sdk 23.3.1 {RUN}")


def mms_create() -> dict:
    url = state["media_urls"][PNG_MEDIA]
    return send([HANDSETS[1]], f"mms from bandwidth-sdk 23.3.1 {RUN}", [url])


def group_create() -> dict:
    return send([HANDSETS[1], HANDSETS[2]], f"group from bandwidth-sdk 23.3.1 {RUN}")


def messages_list() -> dict:
    """list_messages(source_tn=…) until every sent id is listed (the list is not transactional
    with the create in Bandwidth either)."""
    want = set(state.get("sent", []))
    deadline = time.monotonic() + LIST_TIMEOUT
    while True:
        resp = messages.list_messages_with_http_info(ACCOUNT, source_tn=NUMBERS[0], limit=100)
        ml = resp.data
        if not isinstance(ml, bandwidth.MessagesList):
            raise TypeError(f"expected a MessagesList, got {type(ml).__name__}: {ml!r}")
        items = ml.messages or []
        if want <= {i.message_id for i in items} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {
        "status": resp.status_code,
        "total_count": ml.total_count,
        "total_count_type": type(ml.total_count).__name__,
        "page_info": ml.page_info.to_dict() if ml.page_info else None,
        "items": [
            {
                "message_id": i.message_id,
                "account_id": i.account_id,
                "source_tn": i.source_tn,
                "destination_tn": i.destination_tn,
                "message_status": enum(i.message_status),
                "message_direction": enum(i.message_direction),
                "message_type": enum(i.message_type),
                "segment_count": i.segment_count,
                "receive_time": i.receive_time.isoformat() if i.receive_time else None,
                "receive_time_type": type(i.receive_time).__name__,
            }
            for i in items
        ],
    }


# --- errors -------------------------------------------------------------------------------------


def error_bad_from() -> dict:
    req = bandwidth.MessageRequest(
        application_id=APP_ID, to=[HANDSETS[0]], var_from=HANDSETS[2], text="not my number"
    )
    try:
        messages.create_message(ACCOUNT, req)
    except BadRequestException as exc:
        data = exc.data
        return {
            "exception": type(exc).__name__,
            "status": exc.status,
            "data_type": type(data).__name__,
            "type": getattr(data, "type", None),
            "description": getattr(data, "description", None),
            "field_errors": [
                {"field_name": f.field_name, "description": f.description}
                for f in (getattr(data, "field_errors", None) or [])
            ],
            "body": json.loads(exc.body) if exc.body else None,
        }
    raise AssertionError("create_message with a from the account does not own did not raise")


def error_unauthorized() -> dict:
    bad = bandwidth.MessagesApi(client(password=PASSWORD + "-wrong"))
    req = bandwidth.MessageRequest(
        application_id=APP_ID, to=[HANDSETS[0]], var_from=NUMBERS[0], text="wrong password"
    )
    out: dict = {}
    for name, call in (
        ("create", lambda: bad.create_message(ACCOUNT, req)),
        ("list", lambda: bad.list_messages(ACCOUNT, source_tn=NUMBERS[0])),
    ):
        try:
            call()
            out[name] = {"exception": None}
        except ApiException as exc:
            out[name] = {
                "exception": type(exc).__name__,
                "is_unauthorized_exception": isinstance(exc, UnauthorizedException),
                "status": exc.status,
                "body": json.loads(exc.body) if exc.body else None,
            }
    return out


run("media_upload", media_upload)
run("media_list", media_list, "media_upload")
run("media_get", media_get, "media_upload")
run("sms_create", sms_create)
run("mms_create", mms_create, "media_list")
run("group_create", group_create)
run("messages_list", messages_list, "sms_create")
run("media_delete", media_delete, "media_get")
run("error_bad_from", error_bad_from)
run("error_unauthorized", error_unauthorized)

print(json.dumps({"sdk": "bandwidth-sdk==23.3.1", "base": BASE, "steps": steps}, default=str))
