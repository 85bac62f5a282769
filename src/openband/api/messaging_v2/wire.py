"""Messaging v2's wire shapes: the create request in, the `message` object and callbacks out.

Core takes a SendRequest and gives Message and MessageEvent values; this module is where they
meet Bandwidth's JSON (reference §1.2 and §1.4).
"""

from __future__ import annotations

from typing import Any

import orjson

from openband.clock import iso
from openband.core.messaging import (
    Field,
    Message,
    MessageEvent,
    RequestInvalid,
    SendRequest,
)

# Core's field names -> v2's, in the order Bandwidth lists them.
FIELD_NAMES = {
    Field.BODY: "body",
    Field.APPLICATION: "applicationId",
    Field.TO: "to",
    Field.FROM: "from",
    Field.TEXT: "text",
    Field.MEDIA: "media",
    Field.TAG: "tag",
    Field.PRIORITY: "priority",
    Field.EXPIRATION: "expiration",
}
_ORDER = {name: i for i, name in enumerate(FIELD_NAMES)}


def send_request(body: Any) -> tuple[SendRequest, list[tuple[str, str]]]:
    """The create body's values, typed, and the errors in its types (each field that has one
    is passed to core empty, and core checks no further rule on it)."""
    if not isinstance(body, dict):
        raise RequestInvalid([(Field.BODY, "The request body must be a JSON object")])
    errs: list[tuple[str, str]] = []

    app = body.get("applicationId")
    if app is None or (isinstance(app, str) and not app.strip()):
        errs.append((Field.APPLICATION, "applicationId is required"))
        app = None
    elif not isinstance(app, str):
        errs.append((Field.APPLICATION, "applicationId must be a string"))
        app = None

    to_raw = body.get("to")
    to: list[str] = []
    if to_raw is None:
        errs.append((Field.TO, "to is required"))
    else:
        items = [to_raw] if isinstance(to_raw, str) else to_raw
        if not isinstance(items, list):
            errs.append((Field.TO, "to must be a telephone number or an array of them"))
        else:
            for item in items:
                if isinstance(item, str):
                    to.append(item)
                else:
                    errs.append((Field.TO, f"'{item}' must be a valid E164 telephone number"))

    sender = body.get("from")
    if sender is not None and sender != "" and not isinstance(sender, str):
        errs.append((Field.FROM, "from must be a valid E164 telephone number"))
        sender = None

    text = body.get("text")
    if text is None:
        text = ""
    elif not isinstance(text, str):
        errs.append((Field.TEXT, "text must be a string"))
        text = ""

    media_raw = body.get("media")
    media: list[str] = []
    if media_raw is not None:
        if not isinstance(media_raw, list):
            errs.append((Field.MEDIA, "media must be an array of URLs"))
        else:
            for url in media_raw:
                if isinstance(url, str):
                    media.append(url)
                else:
                    errs.append((Field.MEDIA, f"'{url}' is not a valid http(s) URL"))

    tag = body.get("tag")
    if tag is not None and not isinstance(tag, str):
        errs.append((Field.TAG, "tag must be a string"))
        tag = None

    priority = body.get("priority")
    if priority is not None and not isinstance(priority, str):
        errs.append((Field.PRIORITY, "priority must be one of 'default', 'high'"))
        priority = None

    expiration = body.get("expiration")
    if expiration is not None and not isinstance(expiration, str):
        errs.append((Field.EXPIRATION, "expiration must be an RFC-3339 date-time"))
        expiration = None

    req = SendRequest(
        application_id=app,
        sender=sender or None,
        to=tuple(to),
        text=text,
        media=tuple(media),
        tag=tag,
        priority=priority,
        expiration=expiration,
    )
    return req, errs


def field_errors(fields: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Bandwidth's `fieldErrors`, in its field order."""
    ordered = sorted(fields, key=lambda f: _ORDER.get(f[0], len(_ORDER)))
    return [{"fieldName": FIELD_NAMES.get(f, f), "description": d} for f, d in ordered]


def message_body(m: Message, *, text: str | None = None) -> dict[str, Any]:
    """Bandwidth's `message` object (the 202 body, and `message` in callbacks)."""
    out: dict[str, Any] = {
        "id": m.id,
        "owner": m.owner,
        "applicationId": m.application_id,
        "time": iso(m.time),
        "segmentCount": m.segment_count,
        "direction": m.direction,
        "to": list(m.to),
        "from": m.sender,
        "text": m.text if text is None else text,
        "media": list(m.media),
    }
    if m.tag is not None:
        out["tag"] = m.tag
    if m.priority is not None:
        out["priority"] = m.priority
    if m.expiration is not None:
        out["expiration"] = iso(m.expiration)
    return out


def event_body(event: MessageEvent) -> dict[str, Any]:
    """One callback event. Status events carry the message without its text (as Bandwidth's
    do), and without an expiration; message-received carries everything the handset sent."""
    received = event.type == "message-received"
    out: dict[str, Any] = {
        "type": event.type,
        "time": iso(event.time),
        "description": event.description,
        "to": event.to,
    }
    if event.error_code is not None:
        out["errorCode"] = event.error_code
    if event.carrier_name:
        out["carrierName"] = event.carrier_name
    m = event.message
    body = message_body(m, text=None if received else "")
    if received:
        body.pop("priority", None)  # inbound messages have none to tell
    body.pop("expiration", None)
    out["message"] = body
    return out


class V2Callbacks:
    """core.messaging.CallbackFormat for Messaging v2: a JSON array of one event."""

    def callback_body(self, event: MessageEvent) -> str:
        return orjson.dumps([event_body(event)]).decode()


CALLBACKS = V2Callbacks()
