"""The simulator control API (/sim/v1), in-process on each backend: its rules, validation and
scoping. The simulated network end to end (over HTTP to a live server) is in
tests/e2e/test_simulator_e2e.py."""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.network.messaging import InboundMessage, StatusReport
from openband.network.sim import CARRIER_NAME
from openband.store.db import Database
from openband.store.schema import phone_numbers
from tests.support.harness import Account, Harness
from tests.support.webhook_sink import Sink

SIM = "/sim/v1"

# NXX 555 is never in the generated inventory, so these never collide with orders of other tests;
# lines 1000-4999 are handsets, 5000-9999 platform numbers (both outside the reserved 01xx).
_seq = itertools.count(secrets.randbelow(3000))


def handset() -> str:
    return f"+1984555{1000 + next(_seq) % 4000:04d}"


def platform_tn() -> str:
    return f"+1919555{5000 + next(_seq) % 5000:04d}"


def own(acct: Account, *tns: str, site: str | None = None, peer: str | None = None) -> None:
    async def go(db: Database) -> None:
        ts = now()
        async with db.begin() as conn:
            for tn in tns:
                await conn.execute(
                    phone_numbers.insert().values(
                        tn=tn,
                        account_id=acct.account_id,
                        site_id=int(site) if site else None,
                        peer_id=int(peer) if peer else None,
                        status="Inservice",
                        npa=tn[2:5],
                        nxx=tn[5:8],
                        created_at=ts,
                        updated_at=ts,
                    )
                )

    acct.harness.run(go)


@dataclass
class FakeSink:
    """Stands in for core/messaging's MessagingSink: `bind` gives a CarrierSink that records."""

    reports: list[StatusReport] = field(default_factory=list)
    inbound_msgs: list[InboundMessage] = field(default_factory=list)

    def bind(self, conn: AsyncConnection) -> _Bound:
        return _Bound(self, conn)


@dataclass
class _Bound:
    fake: FakeSink
    transaction: AsyncConnection

    async def report(self, reports: Sequence[StatusReport]) -> None:
        self.fake.reports.extend(reports)

    async def inbound(self, message: InboundMessage) -> list[str]:
        self.fake.inbound_msgs.append(message)
        return [f"fake{len(self.fake.inbound_msgs)}-{i}" for i, _ in enumerate(message.to)][:1]

    async def later(self, after: object, ref: str) -> None:
        raise AssertionError("a handset's send sets no timer")


@pytest.fixture
def fake_sink(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> FakeSink:
    """Stands in for core/messaging's sink for the duration of one test."""
    fake = FakeSink()
    monkeypatch.setattr(harness.app.state.platform.simulator, "sink", fake)
    return fake


def err(r: Any, status: int, type_: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"type", "description"} and "detail" not in body, body
    if type_:
        assert body["type"] == type_, body
    return body  # type: ignore[no-any-return]


# --- reserved numbers, auth ----------------------------------------------------------------------


def test_reserved_numbers_table_is_public(harness: Harness) -> None:
    r = harness.client.get(f"{SIM}/reserved-numbers")
    assert r.status_code == 200, r.text
    rows = {row["line"]: row for row in r.json()}
    assert sorted(rows) == [f"01{i:02d}" for i in range(8)]
    assert rows["0101"]["mode"] == "fail" and rows["0101"]["errorCode"] == 4720
    assert rows["0102"]["failureCode"] == 4775
    assert rows["0103"]["failureCode"] == 9902
    assert rows["0104"]["delaySeconds"] == 5.0
    assert rows["0105"]["autoReply"] == "You said: {text}"
    assert rows["0106"]["failureCode"] == 4432 and rows["0107"]["failureCode"] == 5999
    assert rows["0100"]["example"] == "+19195550100"


def test_openapi_documents_the_sim_api(harness: Harness) -> None:
    doc = harness.client.get("/openapi.json").json()
    for path in ("/messages", "/handsets/{number}", "/handsets/{number}/messages"):
        assert f"{SIM}{path}" in doc["paths"]
    put = doc["paths"][f"{SIM}/handsets/{{number}}"]["put"]
    assert "422" not in put["responses"] and "400" in put["responses"]
    assert "HTTPBasic" in doc["components"]["securitySchemes"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/handsets/+19845551234"),
        ("PUT", "/handsets/+19845551234"),
        ("DELETE", "/handsets/+19845551234"),
        ("GET", "/handsets/+19845551234/messages"),
        ("POST", "/messages"),
    ],
)
def test_auth_required(account: Account, method: str, path: str) -> None:
    c = account.client
    # Authentication comes first, even before a bad body is looked at.
    r = c.request(method, f"{SIM}{path}", content=b"{not json", headers={"Content-Type": "x/y"})
    err(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Basic")
    err(c.request(method, f"{SIM}{path}", auth=(account.username, "wrong")), 401)
    err(c.request(method, f"{SIM}{path}", auth=(account.api_token, account.api_secret)), 401)


# --- behaviours -----------------------------------------------------------------------------------


def test_behaviour_put_get_delete(account: Account) -> None:
    c, tn = account.client, handset()
    r = c.get(f"{SIM}/handsets/{tn}", auth=account.auth)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "mode": "deliver", "errorCode": None, "delaySeconds": 0.0, "autoReply": None,
        "autoReplyDelaySeconds": 0.0, "number": tn, "reserved": False, "scripted": False,
        "failureCode": None, "call": None,
    }  # fmt: skip
    body = {"mode": "fail", "errorCode": 4720, "delaySeconds": 1.5}
    r = c.put(f"{SIM}/handsets/{tn}", json=body, auth=account.auth)
    assert r.status_code == 200, r.text
    assert r.json()["scripted"] and r.json()["failureCode"] == 4720
    got = c.get(f"{SIM}/handsets/{tn}", auth=account.auth).json()
    assert got["mode"] == "fail" and got["delaySeconds"] == 1.5 and got["scripted"]
    # Accepts a national number too, and PUT replaces the whole behaviour.
    r = c.put(f"{SIM}/handsets/{tn[2:]}", json={"autoReply": "hey"}, auth=account.auth)
    assert r.status_code == 200 and r.json()["number"] == tn and r.json()["mode"] == "deliver"
    assert c.get(f"{SIM}/handsets/{tn}", auth=account.auth).json()["autoReply"] == "hey"
    assert c.delete(f"{SIM}/handsets/{tn}", auth=account.auth).status_code == 204
    assert not c.get(f"{SIM}/handsets/{tn}", auth=account.auth).json()["scripted"]
    assert c.delete(f"{SIM}/handsets/{tn}", auth=account.auth).status_code == 204


def test_a_call_script_is_kept_with_the_behaviour(account: Account) -> None:
    c, tn = account.client, handset()
    call = {
        "answer": "machine",
        "answerAfterSeconds": 3,
        "greeting": "Leave it at the tone",
        "actions": [{"on": "heard", "phrase": "press 1", "press": "1"}],
    }
    r = c.put(f"{SIM}/handsets/{tn}", json={"mode": "opt_out", "call": call}, auth=account.auth)
    assert r.status_code == 200, r.text
    got = c.get(f"{SIM}/handsets/{tn}", auth=account.auth).json()
    assert got["mode"] == "opt_out"
    assert got["call"]["answer"] == "machine" and got["call"]["answerAfterSeconds"] == 3
    assert got["call"]["actions"] == [
        {"on": "heard", "phrase": "press 1", "press": "1", "afterSeconds": 0.0}
    ]
    # PUT replaces the whole script: without "call", calls are answered by default again.
    c.put(f"{SIM}/handsets/{tn}", json={"mode": "deliver"}, auth=account.auth)
    assert c.get(f"{SIM}/handsets/{tn}", auth=account.auth).json()["call"] is None


@pytest.mark.parametrize(
    ("call", "field_name"),
    [
        ({"answer": "explode"}, "call.answer"),
        ({"answerAfterSeconds": -1}, "call.answerAfterSeconds"),
        ({"actions": [{"press": "1x"}]}, "call.actions[0].press"),
        ({"actions": [{"say": "hi", "press": "1"}]}, "call.actions[0]"),
        ({"ring": 3}, "call.ring"),
        ([1], "call"),
    ],
)
def test_a_call_script_is_refused_with_the_field(
    account: Account, call: Any, field_name: str
) -> None:
    tn = handset()
    r = account.client.put(f"{SIM}/handsets/{tn}", json={"call": call}, auth=account.auth)
    e = err(r, 400, "request-validation")
    fields = [f["fieldName"] for f in e.get("fieldErrors", [])]
    assert field_name in fields or field_name in e["description"], e
    assert not account.client.get(f"{SIM}/handsets/{tn}", auth=account.auth).json()["scripted"]


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"mode": "explode"}, "mode"),
        ({"mode": "fail"}, "errorCode"),
        ({"mode": "fail", "errorCode": 1234}, "errorCode"),
        ({"mode": "opt_out", "errorCode": 4720}, "errorCode"),
        ({"delaySeconds": -1}, "delaySeconds"),
        ({"delaySeconds": "soon"}, "delaySeconds"),
        ({"autoReply": "x" * 2049}, "autoReply"),
        ([1, 2], "body"),
    ],
)
def test_behaviour_validation(account: Account, body: Any, field_name: str) -> None:
    r = account.client.put(f"{SIM}/handsets/{handset()}", json=body, auth=account.auth)
    e = err(r, 400, "request-validation")
    fields = [f["fieldName"] for f in e.get("fieldErrors", [])]
    assert field_name in e["description"] or field_name in fields, e


def test_behaviour_body_errors(account: Account) -> None:
    c, url = account.client, f"{SIM}/handsets/{handset()}"
    err(c.put(url, content=b"mode=fail", auth=account.auth,
              headers={"Content-Type": "application/x-www-form-urlencoded"}), 415,
        "unsupported-content-type")  # fmt: skip
    err(c.put(url, content=b'{"mode": "fail", ', auth=account.auth,
              headers={"Content-Type": "application/json"}), 400, "request-validation")  # fmt: skip
    err(c.put(url, auth=account.auth), 400, "request-validation")
    huge = b'{"autoReply": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    err(c.put(url, content=huge, auth=account.auth, headers={"Content-Type": "application/json"}),
        413, "request-entity-too-large")  # fmt: skip
    err(c.get(f"{SIM}/handsets/12345", auth=account.auth), 400, "request-validation")


def test_behaviour_refuses_own_numbers_and_reserved(
    account: Account, other_account: Account
) -> None:
    mine, theirs = platform_tn(), platform_tn()
    own(account, mine)
    own(other_account, theirs)
    c = account.client
    e = err(c.put(f"{SIM}/handsets/{mine}", json={}, auth=account.auth), 400)
    assert "not handsets" in e["description"]
    err(c.get(f"{SIM}/handsets/{mine}", auth=account.auth), 400)
    err(c.delete(f"{SIM}/handsets/{mine}", auth=account.auth), 400)
    # Another account's number is a handset like any other (tests/security/test_sim_tenancy).
    assert c.get(f"{SIM}/handsets/{theirs}", auth=account.auth).status_code == 200
    e = err(c.put(f"{SIM}/handsets/+12125550101", json={}, auth=account.auth), 400)
    assert "fixed behaviour" in e["description"]
    err(c.delete(f"{SIM}/handsets/+12125550101", auth=account.auth), 400)
    got = c.get(f"{SIM}/handsets/+12125550102", auth=account.auth).json()
    assert got["reserved"] and got["mode"] == "opt_out" and got["failureCode"] == 4775


# --- a handset texts the platform ----------------------------------------------------------------


def test_handset_send_and_scoped_log(
    account: Account, other_account: Account, fake_sink: FakeSink
) -> None:
    tn, h = platform_tn(), handset()
    own(account, tn)
    c = account.client
    r = c.post(
        f"{SIM}/messages", json={"from": h, "to": tn, "text": "hello app"}, auth=account.auth
    )
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["messageIds"] == ["fake1-0"] and doc["to"] == [tn] and doc["from"] == h
    assert doc["segmentCount"] == 1
    (m,) = fake_sink.inbound_msgs
    assert (m.sender, m.to, m.text, m.carrier_name) == (h, (tn,), "hello app", CARRIER_NAME)

    log = c.get(f"{SIM}/handsets/{h}/messages", auth=account.auth).json()
    (row,) = log["messages"]
    assert row["direction"] == "sent" and row["from"] == h and row["to"] == tn
    assert row["messageId"] == "fake1-0" and row["segments"] == ["hello app"]
    assert row["platformNumber"] == tn and row["time"].endswith("Z")
    # Another account sees nothing of it.
    other = other_account.client.get(f"{SIM}/handsets/{h}/messages", auth=other_account.auth)
    assert other.status_code == 200 and other.json()["messages"] == []

    long_text = "y" * 200
    r = c.post(f"{SIM}/messages", json={"from": h, "to": [tn], "text": long_text},
               auth=account.auth)  # fmt: skip
    assert r.status_code == 202 and r.json()["segmentCount"] == 2
    rows = c.get(f"{SIM}/handsets/{h}/messages", auth=account.auth).json()["messages"]
    assert [len(x["segments"]) for x in rows] == [1, 2]  # newest last
    after = c.get(f"{SIM}/handsets/{h}/messages?after={rows[0]['id']}", auth=account.auth)
    assert [x["text"] for x in after.json()["messages"]] == [long_text]
    q = {"since": rows[1]["time"]}
    assert (
        c.get(f"{SIM}/handsets/{h}/messages", params=q, auth=account.auth).json()["messages"] == []
    )
    q = {"limit": 1}
    assert [x["id"] for x in c.get(f"{SIM}/handsets/{h}/messages", params=q,
                                   auth=account.auth).json()["messages"]] == [rows[1]["id"]]  # fmt: skip
    q = {"direction": "received"}
    assert (
        c.get(f"{SIM}/handsets/{h}/messages", params=q, auth=account.auth).json()["messages"] == []
    )


def test_handset_send_media(account: Account, fake_sink: FakeSink) -> None:
    tn, h = platform_tn(), handset()
    own(account, tn)
    sink = account.harness.client.portal.call(Sink().start)  # type: ignore[union-attr]
    try:
        body = {
            "from": h,
            "to": tn,
            "media": [
                {"contentType": "image/png", "content": base64.b64encode(b"PNGDATA").decode(),
                 "name": "cat.png"},
                sink.url("/files/dog.txt"),
            ],
        }  # fmt: skip
        r = account.client.post(f"{SIM}/messages", json=body, auth=account.auth)
        assert r.status_code == 202, r.text
        assert r.json()["media"] == ["cat.png", "dog.txt"]
    finally:
        account.harness.client.portal.call(sink.stop)  # type: ignore[union-attr]
    (m,) = fake_sink.inbound_msgs
    assert next((i.name, i.content_type, i.content) for i in m.media) == (
        "cat.png", "image/png", b"PNGDATA",
    )  # fmt: skip
    assert m.media[1].name == "dog.txt" and m.media[1].content == b"ok"
    rows = account.client.get(f"{SIM}/handsets/{h}/messages", auth=account.auth).json()
    assert rows["messages"][0]["media"] == ["cat.png", "dog.txt"]


def test_handset_send_validation(
    account: Account, other_account: Account, fake_sink: FakeSink
) -> None:
    mine, theirs, h = platform_tn(), platform_tn(), handset()
    own(account, mine)
    own(other_account, theirs)
    c, url = account.client, f"{SIM}/messages"

    def post(body: Any) -> Any:
        return c.post(url, json=body, auth=account.auth)

    err(post({"from": "12", "to": mine, "text": "x"}), 400, "request-validation")
    err(post({"from": h, "to": "nope", "text": "x"}), 400)
    err(post({"from": h, "to": mine, "text": "x" * 2049}), 400)
    err(post({"from": h, "to": mine}), 400)
    err(post({"from": h, "to": [], "text": "x"}), 400)
    err(post({"from": h, "to": [handset() for _ in range(11)], "text": "x"}), 400)
    err(post({"to": mine, "text": "x"}), 400)
    err(post({"from": h, "to": mine, "text": "x", "media": [{"contentType": "a/b",
                                                              "content": "!!"}]}), 400)  # fmt: skip
    err(post({"from": h, "to": mine, "text": "x", "media": ["ftp://x/y"]}), 400)
    err(post({"from": h, "to": mine, "text": "x", "media": ["http://169.254.169.254/x"]}), 400)
    e = err(post({"from": mine, "to": theirs, "text": "x"}), 400)
    assert "not a handset" in e["description"]
    # Another account's number and a number not on the platform: the same answer.
    err(post({"from": h, "to": theirs, "text": "x"}), 404, "not-found")
    err(post({"from": h, "to": [mine, theirs], "text": "x"}), 404, "not-found")
    err(post({"from": h, "to": handset(), "text": "x"}), 404, "not-found")
    err(c.post(url, content=b"from=1", auth=account.auth,
               headers={"Content-Type": "text/plain"}), 415)  # fmt: skip
    assert fake_sink.inbound_msgs == []


def test_handset_messages_query_validation(account: Account) -> None:
    c, h = account.client, handset()
    for q in ({"direction": "sideways"}, {"since": "yesterday"}, {"limit": 0}, {"after": "x"}):
        err(c.get(f"{SIM}/handsets/{h}/messages", params=q, auth=account.auth), 400)
    err(c.get(f"{SIM}/handsets/abc/messages", auth=account.auth), 400)


# --- end to end -----------------------------------------------------------------------------------
# Over HTTP to a live `openband serve` on each backend: tests/e2e/test_simulator_e2e.py.
