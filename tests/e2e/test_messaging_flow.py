"""The messaging user story end to end through the simulated phone network (no fake carrier).

A real `openband serve` per backend; two accounts, each provisioned through the Dashboard API
with an application whose callbacks go to a local receiver (own paths and Basic creds for
inbound and status callbacks). Then, as a developer would:
- send an SMS and an MMS to virtual handsets: message-delivered (the MMS: message-sending first)
  with Bandwidth's callback body, and the handset's log shows what it received;
- send to the simulator's reserved failing numbers: message-failed with the errorCode;
- text the application from a handset with media: message-received whose media URLs the test
  GETs with the account's Basic auth (and another account cannot);
- the two accounts' numbers text each other on-net, media included.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.cluster import (
    Account,
    Hit,
    Messaging,
    Node,
    Receiver,
    basic,
    create_account,
    database,
    handset,
    message_states,
    provision_messaging,
    reserved,
    wait_until,
)

CARRIER = "OpenBand Simulator"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
GIF = b"GIF89a" + bytes(range(50, 120))
ENV = {
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "2",
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.1",
}


@dataclass
class Side:
    """One account, its provisioned messaging app, and where its callbacks land."""

    account: Account
    msg: Messaging
    out_path: str
    in_path: str
    out_creds: tuple[str, str]
    in_creds: tuple[str, str]

    @property
    def tn(self) -> str:
        return self.msg.numbers[0]


@dataclass
class Env:
    backend: str
    node: Node
    rx: Receiver
    a: Side
    b: Side

    def client(self, side: Side) -> httpx.Client:
        return self.node.client(side.account)

    def send(self, side: Side, doc: dict[str, Any]) -> dict[str, Any]:
        with self.client(side) as c:
            r = c.post(f"/api/v2/users/{side.account.account_id}/messages", json=doc)
        assert r.status_code == 202, r.text
        return r.json()

    def event(self, path: str, type_: str, message_id: str, timeout: float = 20) -> Hit:
        """The acknowledged callback of that type for that message, once it arrives."""

        def find() -> Hit | None:
            for h in self.rx.callbacks(path):
                ev = h.events[0]
                if h.acked and ev["type"] == type_ and ev["message"]["id"] == message_id:
                    return h
            return None

        return wait_until(find, timeout, 0.1, f"{type_} for {message_id} on {path}")

    def events_for(self, path: str, message_id: str) -> list[dict[str, Any]]:
        return [
            h.events[0]
            for h in self.rx.callbacks(path)
            if h.acked and h.events[0]["message"]["id"] == message_id
        ]


def _side(node: Node, rx: Receiver, name: str, account: Account, area_code: str) -> Side:
    out_path, in_path = f"/{name}/status", f"/{name}/inbound"
    out_creds, in_creds = (f"{name}-out", f"{name}-out-pw"), (f"{name}-in", f"{name}-in-pw")
    with node.client(account) as c:
        msg = provision_messaging(
            c,
            account.account_id,
            rx.url(out_path),
            out_creds,
            inbound_url=rx.url(in_path),
            inbound_creds=in_creds,
            area_code=area_code,
            name=f"app {name}",
        )
    return Side(account, msg, out_path, in_path, out_creds, in_creds)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp(f"flow-{request.param}")
    with database(request.param, workdir / "db") as url, Receiver() as rx:
        acct_a = create_account(url)
        acct_b = create_account(url)
        node = Node(workdir, url, name=f"flow-{request.param}", env=ENV).start()
        try:
            a = _side(node, rx, "a", acct_a, "919")
            b = _side(node, rx, "b", acct_b, "910")
            yield Env(request.param, node, rx, a, b)
        finally:
            node.stop()
            if request.session.testsfailed:
                print(f"\n----- {node.name} log tail -----\n{node.log_tail()}")


def check_status_event(
    ev: dict[str, Any], sent: dict[str, Any], side: Side, to: str, type_: str
) -> None:
    """Bandwidth's status callback event (reference §2) for the 202 body `sent`."""
    assert ev["type"] == type_
    assert ISO.match(ev["time"]), ev
    assert ev["to"] == to
    assert ev["carrierName"] == CARRIER
    m = ev["message"]
    assert m["id"] == sent["id"]
    assert m["owner"] == side.tn == sent["owner"]
    assert m["applicationId"] == side.msg.app_id
    assert m["time"] == sent["time"]
    assert m["segmentCount"] == sent["segmentCount"]
    assert m["direction"] == "out"
    assert m["to"] == sent["to"]
    assert m["from"] == side.tn
    assert m["text"] == ""  # status callbacks do not carry the text
    assert m["media"] == sent["media"]
    if "tag" in sent:
        assert m["tag"] == sent["tag"]


def check_headers(h: Hit, creds: tuple[str, str]) -> None:
    assert h.headers["Authorization"] == basic(creds)
    assert h.headers["User-Agent"] == "BandwidthAPI/v2"
    assert h.headers["Content-Type"].startswith("application/json")
    assert h.event_id


def handset_log(env: Env, side: Side, tn: str) -> list[dict[str, Any]]:
    with env.client(side) as c:
        r = c.get(f"/sim/v1/handsets/{tn}/messages")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["handset"] == tn
    return doc["messages"]


def test_sms_and_mms_to_handsets_are_delivered(env: Env) -> None:
    a = env.a
    acct = a.account.account_id
    h1, h2 = handset(), handset()

    # SMS: no message-sending, then message-delivered with Bandwidth's body.
    text = "Hello from OpenBand, " + "long text " * 20  # 2 segments
    sms = env.send(a, a.msg.message(h1, text, tag="order-42"))
    assert sms["segmentCount"] == 2
    hit = env.event(a.out_path, "message-delivered", sms["id"])
    check_headers(hit, a.out_creds)
    ev = hit.events[0]
    check_status_event(ev, sms, a, h1, "message-delivered")
    assert ev["description"] == "ok"
    assert "errorCode" not in ev

    # MMS with the sender's own uploaded media and a public URL (the local receiver).
    with env.client(a) as c:
        r = c.put(
            f"/api/v2/users/{acct}/media/flow/cat.png",
            content=PNG,
            headers={"Content-Type": "image/png"},
        )
        assert r.status_code == 204, r.text
    own = f"{env.node.base_url}/api/v2/users/{acct}/media/flow/cat.png"
    public = env.rx.serve_file("/files/dog.gif", GIF, "image/gif")
    mms = env.send(a, a.msg.message(h2, "a picture", media=[own, public]))
    delivered = env.event(a.out_path, "message-delivered", mms["id"])
    sending = env.event(a.out_path, "message-sending", mms["id"], timeout=1)
    assert sending.end <= delivered.start + 0.05, "message-sending must come first"
    check_status_event(sending.events[0], mms, a, h2, "message-sending")
    check_status_event(delivered.events[0], mms, a, h2, "message-delivered")
    assert [e["type"] for e in env.events_for(a.out_path, sms["id"])] == ["message-delivered"]

    # The message list agrees, and the handsets' logs show what they received.
    with env.client(a) as c:
        states = message_states(c, acct, [sms["id"], mms["id"]])
    s1, s2 = states[(sms["id"], h1)], states[(mms["id"], h2)]
    assert (s1["messageStatus"], s1["messageType"], s1["segmentCount"]) == ("DELIVERED", "sms", 2)
    assert (s2["messageStatus"], s2["messageType"], s2["attachmentCount"]) == (
        "DELIVERED",
        "mms",
        2,
    )
    assert s1["carrierName"] == s2["carrierName"] == CARRIER
    assert s1["errorCode"] == 0 and s1["sourceTn"] == a.tn and s1["messageDirection"] == "OUTBOUND"

    (got,) = handset_log(env, a, h1)
    assert got["direction"] == "received" and got["messageId"] == sms["id"]
    assert (got["from"], got["to"], got["platformNumber"]) == (a.tn, h1, a.tn)
    assert got["text"] == text
    assert got["segmentCount"] == 2 and "".join(got["segments"]) == text
    (got,) = handset_log(env, a, h2)
    assert got["direction"] == "received" and got["messageId"] == mms["id"]
    assert got["text"] == "a picture" and len(got["media"]) == 2
    # Another account sees none of this handset's traffic with account A.
    assert handset_log(env, env.b, h2) == []


@pytest.mark.parametrize(
    ("line", "code", "description"),
    [
        ("0101", 4720, "invalid-destination-address"),  # a carrier rejection, after sent
        ("0106", 4432, "rejected-forbidden-country"),  # refused before sending
        ("0107", 5999, "unknown-error"),
    ],
)
def test_reserved_numbers_fail_with_their_error_code(
    env: Env, line: str, code: int, description: str
) -> None:
    a = env.a
    to = reserved(line)
    sent = env.send(a, a.msg.message(to, f"to {line}"))
    hit = env.event(a.out_path, "message-failed", sent["id"])
    check_headers(hit, a.out_creds)
    ev = hit.events[0]
    check_status_event(ev, sent, a, to, "message-failed")
    assert ev["errorCode"] == code
    assert ev["description"] == description
    assert [e["type"] for e in env.events_for(a.out_path, sent["id"])] == ["message-failed"]
    with env.client(a) as c:
        state = message_states(c, a.account.account_id, [sent["id"]])[(sent["id"], to)]
    assert (state["messageStatus"], state["errorCode"]) == ("FAILED", code)
    # A failed message never reached the handset.
    assert handset_log(env, a, to) == []


def test_handset_texts_the_app_with_media(env: Env) -> None:
    a, b = env.a, env.b
    acct = a.account.account_id
    phone = handset()
    public = env.rx.serve_file("/files/handset.gif", GIF, "image/gif")
    with env.client(a) as c:
        r = c.post(
            "/sim/v1/messages",
            json={
                "from": phone,
                "to": a.tn,
                "text": "photos from my phone",
                "media": [
                    {
                        "contentType": "image/png",
                        "content": base64.b64encode(PNG).decode(),
                        "name": "selfie.png",
                    },
                    public,
                ],
            },
        )
    assert r.status_code == 202, r.text
    (mid,) = r.json()["messageIds"]

    hit = env.event(a.in_path, "message-received", mid)
    check_headers(hit, a.in_creds)
    ev = hit.events[0]
    assert ISO.match(ev["time"])
    assert ev["to"] == a.tn
    assert ev["description"]
    m = ev["message"]
    assert (m["id"], m["owner"], m["applicationId"]) == (mid, a.tn, a.msg.app_id)
    assert (m["direction"], m["from"], m["to"]) == ("in", phone, [a.tn])
    assert m["text"] == "photos from my phone"
    assert m["segmentCount"] == 1
    assert len(m["media"]) == 2

    # The media URLs are the platform's, readable with the account's Basic auth only.
    prefix = f"{env.node.base_url}/api/v2/users/{acct}/media/"
    contents = []
    for url in m["media"]:
        assert url.startswith(prefix), url
        r = httpx.get(url, auth=a.account.auth, timeout=10)
        assert r.status_code == 200, r.text
        contents.append((r.content, r.headers["content-type"].split(";")[0]))
        assert httpx.get(url, timeout=10).status_code == 401
        assert httpx.get(url, auth=b.account.auth, timeout=10).status_code == 403
    assert sorted(contents) == sorted([(PNG, "image/png"), (GIF, "image/gif")])

    with env.client(a) as c:
        r = c.get(
            f"/api/v2/users/{acct}/messages",
            params={"messageId": mid},
        )
    (item,) = r.json()["messages"]
    assert (item["messageStatus"], item["messageDirection"]) == ("RECEIVED", "INBOUND")
    assert (item["sourceTn"], item["destinationTn"], item["messageType"]) == (phone, a.tn, "mms")
    (log,) = handset_log(env, a, phone)
    assert (log["direction"], log["from"], log["to"]) == ("sent", phone, a.tn)
    assert log["messageId"] == mid


def test_two_accounts_text_each_other_on_net(env: Env) -> None:
    a, b = env.a, env.b

    # A -> B, SMS: B's app receives it, A's app hears it was delivered.
    sms = env.send(a, a.msg.message(b.tn, "hi B, it's A"))
    delivered = env.event(a.out_path, "message-delivered", sms["id"])
    check_status_event(delivered.events[0], sms, a, b.tn, "message-delivered")

    def received_on(side: Side, frm: str, text: str) -> Hit:
        def find() -> Hit | None:
            for h in env.rx.callbacks(side.in_path):
                ev = h.events[0]
                if h.acked and ev["message"]["from"] == frm and ev["message"]["text"] == text:
                    return h
            return None

        return wait_until(find, 20, 0.1, f"message-received on {side.in_path}")

    hit = received_on(b, a.tn, "hi B, it's A")
    check_headers(hit, b.in_creds)
    ev = hit.events[0]
    assert ev["type"] == "message-received" and ev["to"] == b.tn
    m = ev["message"]
    assert (m["owner"], m["applicationId"], m["direction"]) == (b.tn, b.msg.app_id, "in")
    assert m["to"] == [b.tn] and m["id"] != sms["id"]
    with env.client(b) as c:
        r = c.get(f"/api/v2/users/{b.account.account_id}/messages", params={"messageId": m["id"]})
    (item,) = r.json()["messages"]
    assert (item["messageStatus"], item["messageDirection"]) == ("RECEIVED", "INBOUND")
    assert item["accountId"] == b.account.account_id

    # B -> A, MMS with B's own uploaded media: A gets a copy it can read with its credentials.
    acct_b = b.account.account_id
    with env.client(b) as c:
        r = c.put(
            f"/api/v2/users/{acct_b}/media/onnet/pic.png",
            content=PNG,
            headers={"Content-Type": "image/png"},
        )
        assert r.status_code == 204
    own = f"{env.node.base_url}/api/v2/users/{acct_b}/media/onnet/pic.png"
    mms = env.send(b, b.msg.message(a.tn, "a picture for A", media=[own]))
    env.event(b.out_path, "message-sending", mms["id"])
    env.event(b.out_path, "message-delivered", mms["id"])
    types = [e["type"] for e in env.events_for(b.out_path, mms["id"])]
    assert types == ["message-sending", "message-delivered"], types

    hit = received_on(a, b.tn, "a picture for A")
    check_headers(hit, a.in_creds)
    m = hit.events[0]["message"]
    assert m["owner"] == a.tn and m["from"] == b.tn
    (url,) = m["media"]
    assert url.startswith(f"{env.node.base_url}/api/v2/users/{a.account.account_id}/media/"), url
    r = httpx.get(url, auth=a.account.auth, timeout=10)
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"].startswith("image/png")
