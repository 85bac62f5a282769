"""Pure messaging rules: request validation (the v2 wire's types, then core's rules), rate-limit
schedule, and Messaging v2's list query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openband.api.messaging_v2 import listing, wire
from openband.core import messaging as m
from openband.core import ratelimit as rl
from openband.errors import InvalidInput
from openband.store.messages import SenderRow

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _body(**kw: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "applicationId": "app",
        "from": "+19195550000",
        "to": ["+19195551111"],
        "text": "hi",
    }
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


def parse(body: object, at: datetime = AT) -> m.Draft:
    req, errors = wire.send_request(body)
    return m.check_request(req, at, errors)


def test_parse_request_normalises_numbers() -> None:
    d = parse(_body(to="9195552222", **{"from": "19195550000"}))
    assert d.to == ("+19195552222",) and d.sender == "+19195550000"
    assert d.message_type == "sms" and d.priority == "default" and d.expiration is None


def test_parse_request_collects_every_field_error() -> None:
    with pytest.raises(m.RequestInvalid) as e:
        parse({"to": [], "priority": "x", "tag": 5})
    fields = [f["fieldName"] for f in wire.field_errors(e.value.fields)]
    assert set(fields) >= {"applicationId", "to", "from", "priority", "tag"}


def test_parse_request_types_and_mms() -> None:
    d = parse(_body(text=None, media=["https://e.com/a.png"]))
    assert d.message_type == "mms" and d.text == ""
    g = parse(_body(to=["+19195551111", "+19195551112"]))
    assert g.message_type == "mms"
    exp = parse(_body(expiration="2026-01-01T01:00:00+01:00"), AT - timedelta(hours=1))
    assert exp.expiration == AT
    with pytest.raises(m.RequestInvalid):
        parse(_body(expiration="2026-01-01"))
    with pytest.raises(m.RequestInvalid):
        parse(_body(to=["+19195551111", "9195551111"]))  # the same number twice


def test_check_sender() -> None:
    d = parse(_body())
    ok = SenderRow("+19195550000", 1, True, False, "app")
    m.check_sender(d, ok, "1")
    cases = [
        (None, "from"),
        (SenderRow("+19195550000", None, False, False, None), "from"),
        (SenderRow("+19195550000", 1, False, True, "app"), "from"),
        (SenderRow("+19195550000", 1, True, True, "other"), "application_id"),
    ]
    for row, field in cases:
        with pytest.raises(m.RequestInvalid) as e:
            m.check_sender(d, row, "1")
        assert e.value.fields[0][0] == field
    mms = parse(_body(media=["https://e.com/a"]))
    with pytest.raises(m.RequestInvalid):
        m.check_sender(mms, ok, "1")


def test_segment_count_mms_is_one() -> None:
    d = parse(_body(text="x" * 500))
    assert m.segment_count(d, m.segments_of(d)) == 4
    g = parse(_body(text="x" * 500, media=["https://e.com/a"]))
    assert m.segment_count(g, m.segments_of(g)) == 1


def test_schedule_unlimited_and_rates() -> None:
    slots: dict[str, datetime] = {}
    assert rl.schedule(slots, rl.Limits(), "a", "+1", 3, 2, AT) == [AT, AT]
    assert slots == {}
    lim = rl.Limits.from_json(rl.BANDWIDTH_DEFAULTS)
    assert lim.account_rate == 1 and lim.number_rate == 1 and lim.queue_seconds == 900
    first = rl.schedule(slots, lim, "a", "+1", 2, 1, AT)
    second = rl.schedule(slots, lim, "a", "+1", 1, 2, AT)
    assert first == [AT]
    assert second == [AT + timedelta(seconds=2), AT + timedelta(seconds=3)]
    assert slots[rl.account_key("a")] == AT + timedelta(seconds=4)


def test_schedule_per_number_rate_and_queue_full() -> None:
    lim = rl.Limits(account_rate=10, number_rate=1, queue_seconds=1)
    slots: dict[str, datetime] = {}
    rl.schedule(slots, lim, "a", "+1", 1, 1, AT)
    # another number of the account is not held back by +1's rate
    assert rl.schedule(slots, lim, "a", "+2", 1, 1, AT) == [AT + timedelta(seconds=0.1)]
    assert rl.schedule(slots, lim, "a", "+1", 1, 1, AT) == [AT + timedelta(seconds=1)]
    tight = rl.Limits(account_rate=1, queue_seconds=2)
    s2: dict[str, datetime] = {}
    rl.schedule(s2, tight, "b", "+1", 1, 1, AT)
    rl.schedule(s2, tight, "b", "+1", 1, 1, AT)
    before = dict(s2)
    with pytest.raises(rl.QueueFull):
        rl.schedule(s2, tight, "b", "+1", 1, 1, AT)
    assert s2 == before
    # once time has passed, the queue has room again
    assert rl.schedule(s2, tight, "b", "+1", 1, 1, AT + timedelta(seconds=2))


def test_limits_from_json_ignores_junk() -> None:
    assert rl.Limits.from_json({"messaging_segments_per_second": "x"}).unlimited
    assert rl.Limits.from_json({"messaging_segments_per_second": 0}).unlimited
    assert rl.Limits.from_json(None).unlimited


# Callback targets: tests/unit/test_application_config.py (MessagingConfig).


def test_list_query() -> None:
    with pytest.raises(InvalidInput):
        listing.parse_list_query("1", {})
    q = listing.parse_list_query("1", {"destinationTn": "19195551234"})
    assert q.filter.dest_exact == ["+19195551234"] and q.filter.dest_partial is None
    q = listing.parse_list_query(
        "1", {"sourceTn": "55512", "sort": "segmentCount:asc", "limit": "5"}
    )
    assert q.filter.sender_partial == "55512" and q.sort == "segment_count" and not q.descending
    assert q.limit == 5 and q.offset == 0 and q.count_cap is None
    token = listing.encode_page_token(40)
    assert listing.parse_list_query("1", {"pageToken": token}).offset == 40
    for bad in (
        {"sourceTn": "123"},
        {"messageDirection": "SIDEWAYS"},
        {"messageType": "fax"},
        {"limit": "0"},
        {"limit": "10001"},
        {"fromDateTime": "yesterday"},
        {"limitTotalCount": "maybe"},
        {"errorCode": "x"},
    ):
        with pytest.raises(InvalidInput):
            listing.parse_list_query("1", bad)


def test_describe_error() -> None:
    assert m.describe_error(4360) == "message-not-sent-expiration-date-passed"
    assert m.describe_error(1) == "unknown-error"
