"""Messaging v2's rendering of core's typed values: the 202 `message` and callback bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from openband.api.messaging_v2 import wire
from openband.core.messaging import Message, MessageEvent

AT = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def _message(**kw: object) -> Message:
    doc: dict[str, object] = {
        "id": "1589228074636lm4k2je7j7jklbn2",
        "account_id": "9900001",
        "owner": "+19195550000",
        "application_id": "app",
        "time": AT,
        "message_type": "mms",
        "segment_count": 1,
        "direction": "out",
        "to": ("+19195551111",),
        "sender": "+19195550000",
        "text": "hello",
        "media": ("https://e.com/a.png",),
        "tag": "t",
        "priority": "high",
        "expiration": AT,
    }
    doc.update(kw)
    return Message(**doc)  # type: ignore[arg-type]


def test_message_body_is_bandwidths_shape() -> None:
    assert wire.message_body(_message()) == {
        "id": "1589228074636lm4k2je7j7jklbn2",
        "owner": "+19195550000",
        "applicationId": "app",
        "time": "2026-01-02T03:04:05.678Z",
        "segmentCount": 1,
        "direction": "out",
        "to": ["+19195551111"],
        "from": "+19195550000",
        "text": "hello",
        "media": ["https://e.com/a.png"],
        "tag": "t",
        "priority": "high",
        "expiration": "2026-01-02T03:04:05.678Z",
    }
    bare = wire.message_body(_message(tag=None, priority=None, expiration=None))
    assert "tag" not in bare and "priority" not in bare and "expiration" not in bare


def test_status_callback_is_an_array_of_one_event_without_text() -> None:
    event = MessageEvent(
        type="message-failed",
        time=AT,
        description="invalid-destination-address",
        to="+19195551111",
        message=_message(),
        error_code=4720,
        carrier_name="OpenBand Simulator",
    )
    [doc] = orjson.loads(wire.CALLBACKS.callback_body(event))
    assert doc["type"] == "message-failed" and doc["errorCode"] == 4720
    assert doc["carrierName"] == "OpenBand Simulator" and doc["to"] == "+19195551111"
    assert doc["message"]["text"] == "" and "expiration" not in doc["message"]
    assert doc["message"]["priority"] == "high" and doc["message"]["tag"] == "t"


def test_received_callback_carries_the_text_and_no_priority() -> None:
    m = _message(
        direction="in", owner="+19195551111", tag=None, priority="default", expiration=None
    )
    event = MessageEvent("message-received", AT, "Incoming message received", "+19195551111", m)
    [doc] = orjson.loads(wire.CALLBACKS.callback_body(event))
    assert doc["message"]["text"] == "hello" and "priority" not in doc["message"]
    assert "errorCode" not in doc and "carrierName" not in doc


def test_field_errors_use_v2_names_in_bandwidths_order() -> None:
    errs = wire.field_errors([("to", "a"), ("application_id", "b"), ("body", "c")])
    assert [e["fieldName"] for e in errs] == ["body", "applicationId", "to"]
