"""Messaging API v2: create (validation, from-number checks, 202 body), list/search, media, rate
limits, and the pipeline through a fake carrier to the callback outbox."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from openband.clock import iso
from openband.store.db import Database
from openband.store.schema import message_recipients
from tests.support.harness import Account, Harness
from tests.support.messaging import (
    CallbackSink,
    FakeCarrier,
    Sender,
    engine,
    events_for,
    provision_sender,
    random_tn,
)

V2 = "/api/v2"


@pytest.fixture
def carrier(harness: Harness) -> Iterator[FakeCarrier]:
    messaging = harness.app.state.platform.messaging
    saved = messaging.carrier
    fake = FakeCarrier()
    messaging.carrier = fake
    try:
        yield fake
    finally:
        messaging.carrier = saved


@pytest.fixture
def sender(account: Account) -> Sender:
    return provision_sender(account)


def _list(acct: Account, path: str = V2, **params: Any):  # type: ignore[no-untyped-def]
    return acct.client.get(
        f"{path}/users/{acct.account_id}/messages", params=params, auth=acct.auth
    )


def _field_errors(r) -> list[str]:  # type: ignore[no-untyped-def]
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["type"] == "request-validation"
    assert doc["description"] == "Your request could not be accepted"
    return [e["fieldName"] for e in doc["fieldErrors"]]


def _wait_status(acct: Account, message_id: str, status: str, n: int = 1) -> list[dict]:
    out: list[dict] = []

    def done() -> bool:
        nonlocal out
        out = _list(acct, messageId=message_id).json()["messages"]
        return len(out) == n and all(m["messageStatus"] == status for m in out)

    acct.harness.wait_for(done)
    return out


# --- create ----------------------------------------------------------------------------------


def test_send_sms_202_body(sender: Sender) -> None:
    to = random_tn()
    r = sender.send([to], "Hello World", tag="test message")
    assert r.status_code == 202, r.text
    assert r.headers["content-type"].startswith("application/json")
    m = r.json()
    assert set(m) >= {"id", "owner", "applicationId", "time", "segmentCount", "direction", "to"}
    assert m["owner"] == sender.tn and m["from"] == sender.tn
    assert m["applicationId"] == sender.app_id
    assert m["direction"] == "out" and m["to"] == [to]
    assert m["segmentCount"] == 1 and isinstance(m["segmentCount"], int)
    assert m["text"] == "Hello World" and m["media"] == [] and m["tag"] == "test message"
    assert m["priority"] == "default"
    assert m["id"][:13].isdigit() and len(m["id"]) == 30
    assert datetime.fromisoformat(m["time"].replace("Z", "+00:00")).tzinfo is not None
    assert m["time"].endswith("Z") and len(m["time"]) == 24


def test_unprefixed_path_plain_string_to_and_us_shortcut(sender: Sender) -> None:
    to = random_tn()
    r = sender.send(to[2:], "x", path="")  # the seed: a plain string, +1 omitted
    assert r.status_code == 202, r.text
    assert r.json()["to"] == [to]
    r2 = sender.account.client.post(
        f"/users/{sender.account.account_id}/messages",
        content=orjson.dumps(
            {"applicationId": sender.app_id, "from": sender.tn[2:], "to": to, "text": "y"}
        ),
        headers={"Content-Type": "application/json; charset=utf-8"},
        auth=(sender.account.api_token, sender.account.api_secret),  # v1 token:secret
    )
    assert r2.status_code == 202, r2.text
    assert r2.json()["from"] == sender.tn


def test_long_and_unicode_texts_count_segments(sender: Sender) -> None:
    assert sender.send(None, "a" * 161).json()["segmentCount"] == 2
    assert sender.send(None, "é" * 160).json()["segmentCount"] == 1  # é is GSM-7
    assert sender.send(None, "😀" * 40).json()["segmentCount"] == 2  # UCS-2, surrogate pairs


def test_mms_and_group(sender: Sender) -> None:
    r = sender.send(None, "pic", media=["https://example.com/a.png"], priority="high")
    assert r.status_code == 202, r.text
    assert r.json()["media"] == ["https://example.com/a.png"] and r.json()["priority"] == "high"
    assert r.json()["segmentCount"] == 1
    group = [random_tn() for _ in range(3)]
    g = sender.send(group, "hi all " * 40)
    assert g.status_code == 202, g.text
    assert g.json()["to"] == group and g.json()["segmentCount"] == 1
    items = _list(sender.account, messageId=g.json()["id"]).json()["messages"]
    assert sorted(i["destinationTn"] for i in items) == sorted(group)
    assert {i["messageType"] for i in items} == {"mms"}
    assert {i["recipientCount"] for i in items} == {3}


def test_expiration_is_echoed(sender: Sender) -> None:
    exp = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    r = sender.send(None, "x", expiration=exp.isoformat().replace("+00:00", "Z"))
    assert r.status_code == 202, r.text
    assert r.json()["expiration"] == iso(exp)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"applicationId": None}, "applicationId"),
        ({"applicationId": 5}, "applicationId"),
        ({"to": None}, "to"),
        ({"to": []}, "to"),
        ({"to": ["nope"]}, "to"),
        ({"to": 12}, "to"),
        ({"to": ["+19195550000", "+19195550000"]}, "to"),
        ({"to": [f"+1919555{i:04d}" for i in range(2000, 2011)]}, "to"),
        ({"from": None}, "from"),
        ({"from": "12"}, "from"),
        ({"text": "x" * 2049}, "text"),
        ({"text": 5}, "text"),
        ({"text": None}, "text"),  # neither text nor media
        ({"media": "https://e.com/a"}, "media"),
        ({"media": ["ftp://e.com/a"]}, "media"),
        ({"media": ["https://e.com/" + "a" * 4096]}, "media"),
        ({"media": [f"https://e.com/{i}" for i in range(11)]}, "media"),
        ({"tag": "t" * 1025}, "tag"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": "HIGH"}, "priority"),
        ({"expiration": "tomorrow"}, "expiration"),
        ({"expiration": "2001-01-01T00:00:00Z"}, "expiration"),
    ],
)
def test_validation_rules(sender: Sender, patch: dict[str, Any], field: str) -> None:
    doc: dict[str, Any] = {
        "applicationId": sender.app_id,
        "from": sender.tn,
        "to": [random_tn()],
        "text": "hi",
    }
    for k, v in patch.items():
        if v is None:
            doc.pop(k)
        else:
            doc[k] = v
    r = sender.account.client.post(
        f"{V2}/users/{sender.account.account_id}/messages",
        content=orjson.dumps(doc),
        headers={"Content-Type": "application/json"},
        auth=sender.account.auth,
    )
    assert field in _field_errors(r)


def test_from_number_checks(account: Account, other_account: Account) -> None:
    ok = provision_sender(account)
    foreign = provision_sender(other_account)
    r = ok.send(None, "x", **{"from": foreign.tn})  # another account's number
    assert _field_errors(r) == ["from"]
    assert "not a telephone number in service" in r.json()["fieldErrors"][0]["description"]
    r = ok.send(None, "x", **{"from": random_tn()})  # nobody's number
    assert _field_errors(r) == ["from"]
    r = ok.send(None, "x", applicationId=foreign.app_id)
    assert _field_errors(r) == ["applicationId"]

    no_sms = provision_sender(account, sms=False)
    assert _field_errors(no_sms.send(None, "x")) == ["from"]
    assert "SMS" in no_sms.send(None, "x").json()["fieldErrors"][0]["description"]
    no_mms = provision_sender(account, mms=False)
    assert no_mms.send(None, "x").status_code == 202
    r = no_mms.send(None, "x", media=["https://e.com/a.png"])
    assert _field_errors(r) == ["from"] and "MMS" in r.json()["fieldErrors"][0]["description"]
    assert _field_errors(no_mms.send([random_tn(), random_tn()], "x")) == ["from"]
    unlinked = provision_sender(account, link_app=False)
    assert _field_errors(unlinked.send(None, "x")) == ["applicationId"]


def test_errors_auth_content_type_json(sender: Sender, other_account: Account) -> None:
    acct = sender.account
    url = f"{V2}/users/{acct.account_id}/messages"
    body = orjson.dumps({"applicationId": sender.app_id, "from": sender.tn, "to": "+19195551234"})
    r = acct.client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json() == {
        "type": "unauthorized",
        "description": "Authentication Failed",
    }
    r = acct.client.post(
        url, content=body, headers={"Content-Type": "application/json"}, auth=("x", "y")
    )
    assert r.status_code == 401
    r = acct.client.post(
        url, content=body, headers={"Content-Type": "application/json"}, auth=other_account.auth
    )
    assert r.status_code == 403 and r.json() == {
        "type": "forbidden",
        "description": "Access Denied",
    }
    r = acct.client.post(
        url, content=body, headers={"Content-Type": "text/plain;charset=UTF-8"}, auth=acct.auth
    )
    assert r.status_code == 415
    assert r.json() == {
        "type": "unsupported-content-type",
        "description": "Content type 'text/plain;charset=UTF-8' not supported. "
        "Please use 'application/json'",
    }
    r = acct.client.post(
        url, content=b"{nope", headers={"Content-Type": "application/json"}, auth=acct.auth
    )
    assert _field_errors(r) == ["body"]
    r = acct.client.post(
        url, content=b"[1]", headers={"Content-Type": "application/json"}, auth=acct.auth
    )
    assert _field_errors(r) == ["body"]
    big = b'{"text":"' + b"x" * (1024 * 1024) + b'"}'
    r = acct.client.post(
        url, content=big, headers={"Content-Type": "application/json"}, auth=acct.auth
    )
    assert r.status_code == 413 and set(r.json()) == {"type", "description"}
    r = acct.client.get(f"{V2}/users/{acct.account_id}/nothing", auth=acct.auth)
    assert r.status_code == 404
    assert r.json()["status"] == 404 and r.json()["error"] == "Not Found"
    assert r.json()["path"] == f"{V2}/users/{acct.account_id}/nothing"


def test_nothing_written_on_errors(account: Account) -> None:
    s = provision_sender(account)
    s.send(None, "x", priority="bad")
    s.send(None, "x", **{"from": random_tn()})
    assert _list(account, sourceTn=s.tn).json() == {
        "totalCount": 0,
        "pageInfo": {},
        "messages": [],
    }


# --- list / search -----------------------------------------------------------------------------


def test_list_filters_paging_sort(account: Account) -> None:
    s = provision_sender(account)
    dests = [random_tn("704") for _ in range(5)]
    ids = []
    for i, d in enumerate(dests):
        r = s.send([d], "m" * (10 + 200 * (i % 2)))
        assert r.status_code == 202
        ids.append(r.json()["id"])
    r = _list(account)
    assert r.status_code == 400 and r.json()["type"] == "request-validation"
    all_ = _list(account, sourceTn=s.tn).json()
    assert all_["totalCount"] == 5 and len(all_["messages"]) == 5
    item = all_["messages"][0]
    assert set(item) >= {
        "messageId", "accountId", "sourceTn", "destinationTn", "messageStatus",
        "messageDirection", "messageType", "segmentCount", "errorCode", "receiveTime",
        "carrierName", "messageSize", "messageLength", "attachmentCount", "recipientCount",
    }  # fmt: skip
    assert item["accountId"] == account.account_id and item["messageDirection"] == "OUTBOUND"
    assert item["messageStatus"] in ("QUEUED", "SENDING", "SENT", "DELIVERED")
    assert isinstance(item["errorCode"], int)
    # default order: newest first
    assert [m["messageId"] for m in all_["messages"]] == ids[::-1]

    one = _list(account, destinationTn=dests[2]).json()
    assert [m["messageId"] for m in one["messages"]] == [ids[2]]
    partial = _list(account, destinationTn=dests[3][-7:]).json()
    assert ids[3] in [m["messageId"] for m in partial["messages"]]
    assert _list(account, destinationTn="123").status_code == 400
    two = _list(account, destinationTn=f"{dests[0]},{dests[1]}").json()
    assert two["totalCount"] == 2
    assert _list(account, sourceTn=s.tn, fromSegmentCount=2).json()["totalCount"] == 2
    assert _list(account, sourceTn=s.tn, toSegmentCount=1).json()["totalCount"] == 3
    assert _list(account, sourceTn=s.tn, fromMessageSize=100).json()["totalCount"] == 2
    assert _list(account, sourceTn=s.tn, messageType="mms").json()["totalCount"] == 0
    assert _list(account, sourceTn=s.tn, messageDirection="INBOUND").json()["totalCount"] == 0
    assert _list(account, messageStatus="BOGUS").status_code == 400
    assert _list(account, sort="nope:asc").status_code == 400
    future = iso(datetime.now(UTC) + timedelta(hours=1))
    assert _list(account, sourceTn=s.tn, fromDateTime=future).json()["totalCount"] == 0
    assert _list(account, sourceTn=s.tn, toDateTime=future).json()["totalCount"] == 5

    asc = _list(account, sourceTn=s.tn, sort="receiveTime:asc").json()
    assert [m["messageId"] for m in asc["messages"]] == ids
    seg = _list(account, sourceTn=s.tn, sort="segmentCount:desc").json()
    assert [m["segmentCount"] for m in seg["messages"]] == [2, 2, 1, 1, 1]

    p1 = _list(account, sourceTn=s.tn, limit=2, sort="receiveTime:asc").json()
    assert p1["totalCount"] == 5 and [m["messageId"] for m in p1["messages"]] == ids[:2]
    info = p1["pageInfo"]
    assert "prevPageToken" not in info and info["nextPageToken"]
    assert "pageToken=" in info["nextPage"] and info["nextPage"].startswith("http")
    p2 = _list(
        account, sourceTn=s.tn, limit=2, sort="receiveTime:asc", pageToken=info["nextPageToken"]
    ).json()
    assert [m["messageId"] for m in p2["messages"]] == ids[2:4]
    assert p2["pageInfo"]["prevPageToken"]
    p3 = _list(
        account,
        sourceTn=s.tn,
        limit=2,
        sort="receiveTime:asc",
        pageToken=p2["pageInfo"]["nextPageToken"],
    ).json()
    assert [m["messageId"] for m in p3["messages"]] == ids[4:]
    assert "nextPageToken" not in p3["pageInfo"]
    assert _list(account, sourceTn=s.tn, pageToken="!!!").status_code == 400
    capped = _list(account, sourceTn=s.tn, limitTotalCount="true").json()
    assert capped["totalCount"] == 5
    bad = base64.urlsafe_b64encode(b'{"o":-1}').decode()
    assert _list(account, sourceTn=s.tn, pageToken=bad).status_code == 400


def test_list_is_scoped_to_the_account(account: Account, other_account: Account) -> None:
    s = provision_sender(account)
    mid = s.send(None, "x").json()["id"]
    provision_sender(other_account)
    assert _list(other_account, messageId=mid).json()["totalCount"] == 0
    assert _list(account, path="", messageId=mid).json()["totalCount"] == 1
    r = account.client.get(
        f"{V2}/users/{account.account_id}/messages",
        params={"messageId": mid},
        auth=other_account.auth,
    )
    assert r.status_code == 403


# --- pipeline ----------------------------------------------------------------------------------


def test_pipeline_callbacks_through_the_outbox(harness: Harness, carrier: FakeCarrier) -> None:
    acct = harness.new_account()
    s = provision_sender(
        acct,
        config={
            "outbound_callback_url": "http://127.0.0.1:9/status",
            "outbound_callback_creds": {"user_id": "cbuser", "password": "cbpass"},
            "inbound_callback_url": "http://127.0.0.1:9/inbound",
        },
    )
    bad = random_tn()
    carrier.fail[bad] = 4720
    ok = random_tn()
    r = s.send([ok, bad], "group", tag="t1")
    assert r.status_code == 202
    mid = r.json()["id"]
    harness.wait_for(
        lambda: (
            len(_list(acct, messageId=mid, messageStatus="DELIVERED,FAILED").json()["messages"])
            == 2
        )
    )
    items = {i["destinationTn"]: i for i in _list(acct, messageId=mid).json()["messages"]}
    assert items[ok]["messageStatus"] == "DELIVERED" and items[ok]["errorCode"] == 0
    assert items[bad]["messageStatus"] == "FAILED" and items[bad]["errorCode"] == 4720
    assert items[ok]["carrierName"] == "fake"
    sent = [m for m in carrier.submitted if m.message_id == mid]
    assert sorted(m.to for m in sent) == sorted([ok, bad])
    assert all(m.all_to == (ok, bad) and m.message_type == "mms" for m in sent)

    evs = events_for(acct, mid)
    by_to: dict[str, list[dict]] = {}
    for e in evs:
        body = orjson.loads(e["payload"])
        assert isinstance(body, list) and len(body) == 1
        by_to.setdefault(body[0]["to"], []).append(body[0])
        assert e["url"] == "http://127.0.0.1:9/status"
        password = acct.harness.app.state.platform.sealer.open(e["auth_password"])  # sealed
        assert (e["auth_user"], password) == ("cbuser", "cbpass")
    assert [e["type"] for e in by_to[ok]] == ["message-sending", "message-delivered"]
    assert [e["type"] for e in by_to[bad]] == ["message-sending", "message-failed"]
    failed = by_to[bad][1]
    assert failed["errorCode"] == 4720 and failed["description"] == "invalid-destination-address"
    delivered = by_to[ok][1]
    assert delivered["description"] == "ok" and delivered["carrierName"] == "fake"
    msg = delivered["message"]
    assert msg["id"] == mid and msg["text"] == "" and msg["direction"] == "out"
    assert msg["to"] == [ok, bad] and msg["from"] == s.tn and msg["owner"] == s.tn
    assert msg["applicationId"] == s.app_id and msg["tag"] == "t1"
    assert msg["segmentCount"] == 1 and msg["priority"] == "default" and msg["media"] == []


def test_a_carrier_that_reports_later_gets_each_recipient_once(
    harness: Harness, carrier: FakeCarrier
) -> None:
    """A report clears a recipient's send_at in the write that moves its status; the pump
    clears it itself for recipients the carrier took without a report, so they are not sent
    again, and those it did report on are written once."""
    acct = harness.new_account()
    s = provision_sender(acct)
    quiet, loud = random_tn(), random_tn()
    carrier.silent.add(quiet)
    mid = s.send([quiet, loud], "later").json()["id"]
    harness.wait_for(lambda: len([m for m in carrier.submitted if m.message_id == mid]) == 2)

    async def pump_round(db: Database) -> int:
        return await engine(acct).pump_once()

    # Whole pump rounds run to their end: whatever of this message were still due would be
    # claimed and submitted by them.
    for _ in range(3):
        harness.run(pump_round)
    assert sorted(m.to for m in carrier.submitted if m.message_id == mid) == sorted([quiet, loud])

    async def rows(db: Database) -> dict[str, tuple[str, object]]:
        async with db.connect() as conn:
            r = message_recipients.c
            result = await conn.execute(
                select(r.recipient, r.status, r.send_at).where(r.message_id == mid)
            )
            return {x[0]: (x[1], x[2]) for x in result}

    assert harness.run(rows) == {quiet: ("QUEUED", None), loud: ("DELIVERED", None)}


def test_sms_sends_no_sending_event_and_respects_requested_types(
    harness: Harness, carrier: FakeCarrier
) -> None:
    acct = harness.new_account()
    s = provision_sender(
        acct,
        config={
            "callback_url": "http://127.0.0.1:9/legacy",
            "requested_callback_types": ["message-failed"],
        },
    )
    bad = random_tn()
    carrier.fail[bad] = 4432
    ok_id = s.send(None, "x").json()["id"]
    bad_id = s.send([bad], "x").json()["id"]
    _wait_status(acct, ok_id, "DELIVERED")
    _wait_status(acct, bad_id, "FAILED")
    assert events_for(acct, ok_id) == []
    evs = events_for(acct, bad_id)
    assert [orjson.loads(e["payload"])[0]["type"] for e in evs] == ["message-failed"]
    assert evs[0]["url"] == "http://127.0.0.1:9/legacy" and evs[0]["auth_user"] is None


def test_expired_message_fails_4360_without_carrier(harness: Harness, carrier: FakeCarrier) -> None:
    acct = harness.new_account()
    s = provision_sender(acct, config={"outbound_callback_url": "http://127.0.0.1:9/s"})
    messaging = harness.app.state.platform.messaging
    messaging.carrier = None  # hold the pipeline until the message has expired
    exp = datetime.now(UTC) + timedelta(seconds=2)
    r = s.send(None, "late", expiration=exp.isoformat())
    assert r.status_code == 202, r.text
    mid = r.json()["id"]
    time.sleep(max(0.0, (exp - datetime.now(UTC)).total_seconds()) + 0.1)
    messaging.carrier = carrier
    engine(acct).wake()
    items = _wait_status(acct, mid, "FAILED")
    assert items[0]["errorCode"] == 4360
    assert all(m.message_id != mid for m in carrier.submitted)
    evs = [orjson.loads(e["payload"])[0] for e in events_for(acct, mid)]
    assert [(e["type"], e["errorCode"]) for e in evs] == [("message-failed", 4360)]


def test_unreachable_media_fails_4410(harness: Harness, carrier: FakeCarrier) -> None:
    acct = harness.new_account()
    s = provision_sender(acct)
    r = s.send(None, "pic", media=["http://127.0.0.1:9/none.png"])
    mid = r.json()["id"]
    items = _wait_status(acct, mid, "FAILED")
    assert items[0]["errorCode"] == 4410
    assert all(m.message_id != mid for m in carrier.submitted)
    # the platform's own media is read from the media table
    put = acct.client.put(
        f"{V2}/users/{acct.account_id}/media/pic.png",
        content=b"PNG",
        auth=acct.auth,
        headers={"Content-Type": "image/png"},
    )
    assert put.status_code == 204
    settings = harness.app.state.platform.settings
    # The configured public base, which nothing serves in-process: the URL is recognised as the
    # platform's own and read from the media table, never fetched over HTTP.
    own = f"http://{settings.host}:{settings.port}{V2}/users/{acct.account_id}/media/pic.png"
    assert not own.startswith(str(acct.client.base_url).rstrip("/"))
    messaging = harness.app.state.platform.messaging
    fetched: list[str] = []

    class NoFetcher:
        async def fetch(self, url: str, **kw: object) -> None:
            fetched.append(url)
            raise AssertionError(f"fetched {url} over HTTP")

    saved = messaging.fetcher
    messaging.fetcher = NoFetcher()
    try:
        mid2 = s.send(None, "pic", media=[own]).json()["id"]
        _wait_status(acct, mid2, "DELIVERED")
        # Gone from the table, the same URL is unavailable media: the table is what was read.
        gone = acct.client.delete(f"{V2}/users/{acct.account_id}/media/pic.png", auth=acct.auth)
        assert gone.status_code == 204
        mid3 = s.send(None, "pic", media=[own]).json()["id"]
        assert _wait_status(acct, mid3, "FAILED")[0]["errorCode"] == 4410
    finally:
        messaging.fetcher = saved
    assert fetched == []


def test_end_to_end_callbacks_to_a_local_sink(harness: Harness, carrier: FakeCarrier) -> None:
    with CallbackSink() as sink:
        acct = harness.new_account()
        s = provision_sender(
            acct,
            config={
                "outbound_callback_url": f"{sink.url}/status",
                "outbound_callback_creds": {"user_id": "u", "password": "p"},
            },
        )
        mid = s.send(None, "hello").json()["id"]
        harness.wait_for(
            lambda: any(r["body"][0]["message"]["id"] == mid for r in sink.received),
            timeout=15,
        )
        got = [r for r in sink.received if r["body"][0]["message"]["id"] == mid]
        assert got[0]["path"] == "/status"
        assert got[0]["body"][0]["type"] == "message-delivered"
        assert got[0]["auth"] == "Basic " + base64.b64encode(b"u:p").decode()


def test_inbound_through_the_sink(harness: Harness) -> None:
    from openband.network.messaging import InboundMessage, MediaItem

    acct = harness.new_account()
    s = provision_sender(
        acct,
        config={
            "inbound_callback_url": "http://127.0.0.1:9/in",
            "inbound_callback_creds": {"user_id": "i", "password": "j"},
        },
    )
    sink = harness.app.state.platform.messaging.sink
    handset = random_tn("415")

    async def go(db):  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            return await sink.inbound(
                conn,
                InboundMessage(
                    sender=handset,
                    to=(s.tn, random_tn()),
                    text="hi there",
                    media=(MediaItem(b"GIF89a", "image/gif", "cat.gif"),),
                ),
            )

    [mid] = harness.run(go)
    evs = events_for(acct, mid)
    assert len(evs) == 1 and evs[0]["url"] == "http://127.0.0.1:9/in"
    password = harness.app.state.platform.sealer.open(evs[0]["auth_password"])  # sealed
    assert (evs[0]["auth_user"], password) == ("i", "j")
    [ev] = orjson.loads(evs[0]["payload"])
    assert ev["type"] == "message-received" and ev["to"] == s.tn
    assert ev["description"] == "Incoming message received"
    m = ev["message"]
    assert m["direction"] == "in" and m["owner"] == s.tn and m["from"] == handset
    assert m["text"] == "hi there" and m["applicationId"] == s.app_id and m["segmentCount"] == 1
    assert m["media"][0].endswith(f"/api/v2/users/{acct.account_id}/media/{mid}/0/cat.gif")
    media_path = m["media"][0].split("/api/v2", 1)[1]
    got = acct.client.get(f"{V2}{media_path}", auth=acct.auth)
    assert got.status_code == 200 and got.content == b"GIF89a"
    assert got.headers["content-type"] == "image/gif"
    [item] = _list(acct, messageId=mid).json()["messages"]
    assert item["messageStatus"] == "RECEIVED" and item["messageDirection"] == "INBOUND"
    assert item["destinationTn"] == s.tn and item["sourceTn"] == handset


# --- rate limits -------------------------------------------------------------------------------


def test_bandwidth_limits_queue_full_429(harness: Harness, carrier: FakeCarrier) -> None:
    from openband.core.ratelimit import BANDWIDTH_DEFAULTS

    # A 5 s queue at 1 segment/s so the test stays small; semantics as --limits bandwidth.
    acct = harness.new_account(**{**BANDWIDTH_DEFAULTS, "messaging_queue_seconds": 5})
    s = provision_sender(acct)
    # 5 s of queue at 1 segment/s holds 5 one-segment messages; the 6th is refused.
    codes = [s.send(None, "x").status_code for _ in range(7)]
    assert codes[:5] == [202] * 5 and codes[5:] == [429, 429]
    r = s.send(None, "x")
    assert r.status_code == 429
    assert r.json()["type"] == "max-message-queue-size-exceeded"
    # the queued ones drain at the configured rate: one now, the next ~1 s later
    items = _list(acct, sourceTn=s.tn, sort="receiveTime:asc").json()["messages"]
    assert len(items) == 5
    harness.wait_for(
        lambda: _list(acct, sourceTn=s.tn, messageStatus="DELIVERED").json()["totalCount"] >= 1
    )
    assert _list(acct, sourceTn=s.tn, messageStatus="DELIVERED").json()["totalCount"] <= 2


# --- media -------------------------------------------------------------------------------------


def test_media_crud(account: Account) -> None:
    base = f"{V2}/users/{account.account_id}/media"
    mid = "14762070468292kw2fuqty55yp2b2/0/bw.png"
    r = account.client.put(
        f"{base}/{mid}",
        content=b"\x89PNG data",
        auth=account.auth,
        headers={"Content-Type": "image/png", "Cache-Control": "no-cache"},
    )
    assert r.status_code == 204 and r.content == b""
    g = account.client.get(f"{base}/{mid}", auth=account.auth)
    assert g.status_code == 200 and g.content == b"\x89PNG data"
    assert g.headers["content-type"] == "image/png" and g.headers["cache-control"] == "no-cache"
    # overwrite
    account.client.put(
        f"{base}/{mid}", content=b"v2", auth=account.auth, headers={"Content-Type": "text/plain"}
    )
    assert (
        account.client.get(f"/users/{account.account_id}/media/{mid}", auth=account.auth).content
        == b"v2"
    )
    account.client.put(
        f"{base}/a.txt", content=b"abc", auth=account.auth, headers={"Content-Type": "text/plain"}
    )
    listed = account.client.get(base, auth=account.auth)
    assert listed.status_code == 200
    names = {m["mediaName"]: m for m in listed.json()}
    assert set(names) == {mid, "a.txt"}
    assert names["a.txt"]["contentLength"] == 3
    assert names["a.txt"]["content"].endswith(f"/api/v2/users/{account.account_id}/media/a.txt")
    assert "continuation-token" not in listed.headers
    d = account.client.delete(f"{base}/{mid}", auth=account.auth)
    assert d.status_code == 204
    assert account.client.get(f"{base}/{mid}", auth=account.auth).status_code == 404
    assert account.client.delete(f"{base}/{mid}", auth=account.auth).status_code == 404
    assert account.client.get(f"{base}/a.txt").status_code == 401


def test_media_size_limit_and_paging(harness: Harness) -> None:
    acct = harness.new_account()
    base = f"{V2}/users/{acct.account_id}/media"
    limit = harness.app.state.platform.settings.media_max_bytes
    r = acct.client.put(f"{base}/big.bin", content=b"x" * (limit + 1), auth=acct.auth)
    assert r.status_code == 413
    assert acct.client.get(f"{base}/big.bin", auth=acct.auth).status_code == 404
    assert (
        acct.client.put(f"{base}/max.bin", content=b"x" * limit, auth=acct.auth).status_code == 204
    )

    async def many(db):  # type: ignore[no-untyped-def]
        from openband.clock import now
        from openband.store import media as repo

        at = now()
        async with db.begin() as conn:
            for i in range(1005):
                await repo.put(
                    conn,
                    db.dialect,
                    account_id=acct.account_id,
                    media_id=f"m/{i:04d}",
                    blob_ref="no-blob",  # listed only: no bytes needed
                    size=1,
                    content_type="text/plain",
                    cache_control=None,
                    at=at,
                    expires_at=at + timedelta(hours=1),
                )
            # and one already expired: invisible
            await repo.put(
                conn,
                db.dialect,
                account_id=acct.account_id,
                media_id="old",
                blob_ref="no-blob",
                size=1,
                content_type="text/plain",
                cache_control=None,
                at=at,
                expires_at=at - timedelta(seconds=1),
            )

    harness.run(many)
    first = acct.client.get(base, auth=acct.auth)
    assert len(first.json()) == 1000
    token = first.headers["continuation-token"]
    second = acct.client.get(base, auth=acct.auth, headers={"Continuation-Token": token})
    names = [m["mediaName"] for m in first.json() + second.json()]
    assert len(names) == 1006 and len(set(names)) == 1006 and "old" not in names
    assert acct.client.get(f"{base}/old", auth=acct.auth).status_code == 404
    swept = harness.run(lambda db: engine(acct).media.sweep())
    assert swept >= 1
