"""PyPI bandwidth-sdk==23.3.1 (Messaging v2 and media) against a live server
(drivers/messaging_py.py), then the callbacks its messages produce at a real webhook sink.

Provisioning (application with inbound/outbound callback URLs and creds pointing at a sink on
127.0.0.1, site, location, SMS/MMS, application link, two ordered numbers) is done here with
httpx through the Dashboard API before the driver runs; test_messaging_node.py reuses it.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.compat.conftest import DRIVERS, _run_driver
from tests.compat.results import ctx, step
from tests.support.live import ROOT, LiveServer, missing_tool
from tests.support.webhook_sink import Received, Sink

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("compat")]

SDK_VENV = ROOT / ".venv-compat-sdk"
XML = {"Content-Type": "application/xml; charset=utf-8"}
ORDER_TIMEOUT = 60.0
CALLBACK_TIMEOUT = 30.0
IN_CREDS = ("inbound-user", "inbound-pass")
OUT_CREDS = ("outbound-user", "outbound-pass")


# --- the webhook sink, in a thread of its own (the tests and the SDK drivers are synchronous) ---


class ThreadedSink:
    """tests/support/webhook_sink.Sink served from its own event loop and thread."""

    def __init__(self) -> None:
        self.sink = Sink()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sink.start(), self._loop).result(10)

    def url(self, path: str) -> str:
        return self.sink.url(path)

    def on(self, path: str) -> list[Received]:
        return [r for r in list(self.sink.requests) if r.path == path]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.sink.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class Event:
    """One event of a callback request (Bandwidth posts a JSON array of them)."""

    request: Received
    body: Any
    event: dict[str, Any]

    def show(self) -> str:
        h = {k: v for k, v in self.request.headers.items() if k.lower() != "host"}
        return f"POST {self.request.path} headers={h} body={self.body!r}"


def events(sink: ThreadedSink, path: str) -> list[Event]:
    out: list[Event] = []
    for r in sink.on(path):
        try:
            body = json.loads(r.body)
        except ValueError:
            body = r.body.decode("utf-8", "replace")
        items = body if isinstance(body, list) else [body]
        out.extend(Event(r, body, e) for e in items if isinstance(e, dict))
    return out


def wait_events(
    sink: ThreadedSink,
    path: str,
    match: Callable[[dict[str, Any]], bool],
    count: int,
    timeout: float = CALLBACK_TIMEOUT,
) -> list[Event]:
    """The events at `path` that `match`, once there are `count` of them (or after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(sink, path) if match(e.event)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def basic(creds: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def everything_at(sink: ThreadedSink, path: str) -> str:
    return "\n".join(e.show()[:1500] for e in events(sink, path)) or "(nothing received)"


# --- provisioning through the Dashboard API ---------------------------------------------------------


APPLICATION = """<Application>
  <ServiceType>Messaging-V2</ServiceType>
  <AppName>{name}</AppName>
  <InboundCallbackUrl>{inbound}</InboundCallbackUrl>
  <OutboundCallbackUrl>{outbound}</OutboundCallbackUrl>
  <InboundCallbackCreds><UserId>{in_user}</UserId><Password>{in_pass}</Password></InboundCallbackCreds>
  <OutboundCallbackCreds><UserId>{out_user}</UserId><Password>{out_pass}</Password></OutboundCallbackCreds>
</Application>"""

SITE = """<Site>
  <Name>{name}</Name>
  <Description>bandwidth-sdk messaging compat</Description>
  <Address>
    <HouseNumber>1600</HouseNumber><StreetName>PENNSYLVANIA</StreetName><StreetSuffix>AVE</StreetSuffix>
    <City>WASHINGTON</City><StateCode>DC</StateCode><Zip>20006</Zip><Country>US</Country>
    <AddressType>Service</AddressType>
  </Address>
</Site>"""

SIPPEER = "<SipPeer><PeerName>{name}</PeerName><IsDefaultPeer>true</IsDefaultPeer></SipPeer>"

SMS = """<SipPeerSmsFeature>
  <SipPeerSmsFeatureSettings>
    <TollFree>true</TollFree><ShortCode>true</ShortCode><Protocol>HTTP</Protocol>
    <Zone1>true</Zone1><Zone2>false</Zone2><Zone3>false</Zone3><Zone4>false</Zone4><Zone5>false</Zone5>
  </SipPeerSmsFeatureSettings>
  <HttpSettings />
</SipPeerSmsFeature>"""

MMS = """<MmsFeature>
  <MmsSettings><Protocol>HTTP</Protocol></MmsSettings>
  <Protocols><HTTP><HttpSettings /></HTTP></Protocols>
</MmsFeature>"""

APP_SETTINGS = "<ApplicationsSettings><HttpMessagingV2AppId>{app}</HttpMessagingV2AppId></ApplicationsSettings>"

ORDER = """<Order>
  <AreaCodeSearchAndOrderType><AreaCode>910</AreaCode><Quantity>2</Quantity></AreaCodeSearchAndOrderType>
  <SiteId>{site}</SiteId>
  <PeerId>{peer}</PeerId>
</Order>"""


@dataclass
class MessagingSetup:
    server: LiveServer
    sink: ThreadedSink
    app_id: str
    site_id: str
    peer_id: str
    numbers: list[str]  # E.164
    handsets: list[str]  # E.164, owned by nobody
    tag: str

    def driver_env(self) -> dict[str, str]:
        return {
            "OB_MSG_APP_ID": self.app_id,
            "OB_MSG_NUMBERS": ",".join(self.numbers),
            "OB_MSG_HANDSETS": ",".join(self.handsets),
            "OB_MSG_TAG": self.tag,
        }


def _show(r: httpx.Response) -> str:
    return f"{r.request.method} {r.request.url} -> {r.status_code}\n{r.text[:2000]}"


def _expect(r: httpx.Response, status: int) -> httpx.Response:
    assert r.status_code == status, f"provisioning: expected {status}\n{_show(r)}"
    return r


def _location_id(r: httpx.Response) -> str:
    loc = r.headers.get("location")
    assert loc, f"provisioning: no Location header\n{_show(r)}"
    return loc.rstrip("/").rsplit("/", 1)[-1]


def handsets(n: int) -> list[str]:
    """Numbers nobody owns (orders here take 910; 555 is the simulator's reserved range)."""
    rng = random.Random()
    out: list[str] = []
    while len(out) < n:
        tn = f"+1984{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if tn[5:8] != "555" and tn not in out:
            out.append(tn)
    return out


def provision(server: LiveServer, sink: ThreadedSink, label: str) -> MessagingSetup:
    acct = server.account_id
    base = f"/api/accounts/{acct}"
    run = uuid.uuid4().hex[:8]
    with server.client() as c:
        body = APPLICATION.format(
            name=f"{label}-{run}",
            inbound=sink.url("/inbound"),
            outbound=sink.url("/outbound"),
            in_user=IN_CREDS[0],
            in_pass=IN_CREDS[1],
            out_user=OUT_CREDS[0],
            out_pass=OUT_CREDS[1],
        )
        r = _expect(c.post(f"{base}/applications", content=body, headers=XML), 201)
        app_id = etree.fromstring(r.content).findtext("Application/ApplicationId")
        assert app_id, _show(r)
        r = _expect(c.post(f"{base}/sites", content=SITE.format(name=label), headers=XML), 201)
        site_id = _location_id(r)
        body = SIPPEER.format(name=f"{label}-peer")
        r = _expect(c.post(f"{base}/sites/{site_id}/sippeers", content=body, headers=XML), 201)
        peer_id = _location_id(r)
        peer = f"{base}/sites/{site_id}/sippeers/{peer_id}/products/messaging"
        _expect(c.post(f"{peer}/features/sms", content=SMS, headers=XML), 201)
        _expect(c.post(f"{peer}/features/mms", content=MMS, headers=XML), 201)
        body = APP_SETTINGS.format(app=app_id)
        _expect(c.put(f"{peer}/applicationSettings", content=body, headers=XML), 200)
        body = ORDER.format(site=site_id, peer=peer_id)
        r = _expect(c.post(f"{base}/orders", content=body, headers=XML), 201)
        order_id = etree.fromstring(r.content).findtext("Order/id")
        assert order_id, _show(r)
        deadline = time.monotonic() + ORDER_TIMEOUT
        while True:
            r = _expect(c.get(f"{base}/orders/{order_id}"), 200)
            doc = etree.fromstring(r.content)
            status = doc.findtext("OrderStatus")
            if status == "COMPLETE":
                break
            assert status in ("RECEIVED", "PROCESSING"), _show(r)
            assert time.monotonic() < deadline, (
                f"order not COMPLETE in {ORDER_TIMEOUT}s\n{_show(r)}"
            )
            time.sleep(0.1)
    tns = [e.text for e in doc.findall("CompletedNumbers/TelephoneNumber/FullNumber")]
    assert len(tns) == 2 and all(tns), _show(r)
    return MessagingSetup(
        server=server,
        sink=sink,
        app_id=app_id,
        site_id=site_id,
        peer_id=peer_id,
        numbers=[f"+1{tn}" for tn in tns],
        handsets=handsets(3),
        tag=f"compat-{label}-{run}",
    )


# One setup and one driver run per (driver, server): xdist may re-create module fixtures, and the
# callbacks a run produced must be looked for at the sink that run used.
_SETUPS: dict[tuple[str, str], tuple[MessagingSetup, dict]] = {}
_SINKS: list[ThreadedSink] = []


def _stop_sinks() -> None:
    while _SINKS:
        _SINKS.pop().stop()


atexit.register(_stop_sinks)


def run_messaging_driver(
    server: LiveServer, cmd: list[str], label: str
) -> tuple[MessagingSetup, dict]:
    key = (cmd[-1], server.base_url)
    if key not in _SETUPS:
        sink = ThreadedSink()
        _SINKS.append(sink)
        setup = provision(server, sink, label)
        _SETUPS[key] = (setup, _run_driver(cmd, server, setup.driver_env()))
    return _SETUPS[key]


@pytest.fixture(scope="module")
def messaging_py_run(live_server: LiveServer) -> tuple[MessagingSetup, dict]:
    python = SDK_VENV / "bin" / "python"
    if not python.exists():
        missing_tool(f"{python} missing: run `bash tests/compat/install.sh`")
    return run_messaging_driver(live_server, [str(python), str(DRIVERS / "messaging_py.py")], "py")


@pytest.fixture(scope="module")
def messaging_py(messaging_py_run: tuple[MessagingSetup, dict]) -> dict:
    return messaging_py_run[1]


@pytest.fixture(scope="module")
def setup_py(messaging_py_run: tuple[MessagingSetup, dict]) -> MessagingSetup:
    return messaging_py_run[0]


# --- shared callback checks (also used by test_messaging_node.py) -------------------------------


def check_delivered_callbacks(setup: MessagingSetup, sent: dict[str, list[str]]) -> None:
    """`sent`: message id -> its recipients. Each recipient's message-delivered must arrive at
    the OutboundCallbackUrl as a JSON array, with the outbound creds and Bandwidth's User-Agent."""
    sink = setup.sink
    want = sum(len(to) for to in sent.values())
    found = wait_events(
        sink,
        "/outbound",
        lambda e: e.get("type") == "message-delivered" and e.get("message", {}).get("id") in sent,
        want,
    )
    got = {(e.event["message"]["id"], e.event.get("to")) for e in found}
    expected = {(mid, tn) for mid, to in sent.items() for tn in to}
    assert got >= expected, (
        f"message-delivered missing for {sorted(expected - got)} after {CALLBACK_TIMEOUT}s; "
        f"at /outbound:\n{everything_at(sink, '/outbound')}"
    )
    for e in found:
        h = {k.lower(): v for k, v in e.request.headers.items()}
        assert isinstance(e.body, list), f"callback body must be a JSON array\n{e.show()}"
        assert h.get("authorization") == basic(OUT_CREDS), e.show()
        assert h.get("user-agent") == "BandwidthAPI/v2", e.show()
        assert h.get("content-type", "").startswith("application/json"), e.show()
        ev, msg = e.event, e.event["message"]
        assert ev.get("time") and ev.get("description"), e.show()
        assert msg["direction"] == "out", e.show()
        assert msg["from"] == setup.numbers[0] and msg["owner"] == setup.numbers[0], e.show()
        assert msg["applicationId"] == setup.app_id, e.show()
        assert msg["to"] == sent[msg["id"]], e.show()
        assert msg.get("tag") == setup.tag, e.show()
        assert isinstance(msg.get("segmentCount"), int), e.show()
    # Nothing the SDK sent went to the inbound URL, and nothing failed.
    stray = [
        e.show()
        for e in events(sink, "/outbound")
        if e.event.get("message", {}).get("id") in sent and e.event.get("type") == "message-failed"
    ]
    assert not stray, "\n".join(stray)


def check_handset_to_platform(setup: MessagingSetup) -> None:
    """A handset texts the second number (POST /sim/v1/messages): message-received arrives at
    the InboundCallbackUrl with the inbound creds."""
    server, sink = setup.server, setup.sink
    handset, number = setup.handsets[0], setup.numbers[1]
    text = f"hello platform {uuid.uuid4().hex[:8]}"
    with server.client() as c:
        r = c.post("/sim/v1/messages", json={"from": handset, "to": number, "text": text})
    assert r.status_code == 202, _show(r)
    ids = r.json()["messageIds"]
    assert len(ids) == 1, _show(r)
    found = wait_events(
        sink,
        "/inbound",
        lambda e: e.get("type") == "message-received" and e.get("message", {}).get("id") in ids,
        1,
    )
    assert found, (
        f"no message-received for {ids} after {CALLBACK_TIMEOUT}s; at /inbound:\n"
        f"{everything_at(sink, '/inbound')}"
    )
    e = found[0]
    h = {k.lower(): v for k, v in e.request.headers.items()}
    assert isinstance(e.body, list), f"callback body must be a JSON array\n{e.show()}"
    assert h.get("authorization") == basic(IN_CREDS), e.show()
    assert h.get("user-agent") == "BandwidthAPI/v2", e.show()
    ev, msg = e.event, e.event["message"]
    assert ev["to"] == number, e.show()
    assert msg["direction"] == "in", e.show()
    assert msg["from"] == handset and msg["to"] == [number], e.show()
    assert msg["owner"] == number and msg["applicationId"] == setup.app_id, e.show()
    assert msg["text"] == text, e.show()
    assert msg["segmentCount"] == 1, e.show()


# --- the Python SDK's steps -----------------------------------------------------------------------


def test_upload_media(messaging_py: dict) -> None:
    v = step(messaging_py, "media_upload")
    assert v["statuses"] == [204, 204], ctx(messaging_py, "media_upload")
    assert v["data"] == [None, None], ctx(messaging_py, "media_upload")


def test_list_media(messaging_py: dict, setup_py: MessagingSetup) -> None:
    v = step(messaging_py, "media_list")
    assert v["status"] == 200 and v["type"] == "list", ctx(messaging_py, "media_list")
    assert set(v["mine"]) == set(v["expected"]), ctx(messaging_py, "media_list")
    acct = setup_py.server.account_id
    for name, size in v["expected"].items():
        item = v["mine"][name]
        assert item["content_length"] == size, ctx(messaging_py, "media_list")
        assert item["content_length_type"] == "int", ctx(messaging_py, "media_list")
        assert item["content"] == f"{setup_py.server.base_url}/api/v2/users/{acct}/media/{name}", (
            ctx(messaging_py, "media_list")
        )


def test_get_media_bytes(messaging_py: dict) -> None:
    v = step(messaging_py, "media_get")
    assert v["statuses"] == [200, 200], ctx(messaging_py, "media_get")
    # The SDK's return annotation says bytearray; what it hands back is the raw body (bytes).
    assert set(v["types"]) <= {"bytes", "bytearray"}, ctx(messaging_py, "media_get")
    assert v["text_equal"] and v["png_equal"], ctx(messaging_py, "media_get")
    assert v["content_types"] == ["text/plain", "image/png"], ctx(messaging_py, "media_get")


def test_delete_media(messaging_py: dict) -> None:
    v = step(messaging_py, "media_delete")
    assert v["status"] == 204 and v["data"] is None, ctx(messaging_py, "media_delete")
    assert v["get_after_delete"] == 404, ctx(messaging_py, "media_delete")
    assert v["listed_after_delete"] is False, ctx(messaging_py, "media_delete")


def _check_message(result: dict, name: str, setup: MessagingSetup, to: list[str]) -> dict:
    v = step(result, name)
    c = ctx(result, name)
    assert v["status"] == 202, c
    assert v["id"], c
    assert v["direction"] == "out" and v["direction_type"] == "MessageDirectionEnum", c
    assert v["segment_count"] == 1 and v["segment_count_type"] == "int", c
    assert v["time_type"] == "datetime", c
    assert v["to"] == to, c
    assert v["from"] == setup.numbers[0] and v["owner"] == setup.numbers[0], c
    assert v["application_id"] == setup.app_id, c
    assert v["tag"] == setup.tag, c
    assert v["priority"] in (None, "default"), c
    return v


def test_create_sms(messaging_py: dict, setup_py: MessagingSetup) -> None:
    v = _check_message(messaging_py, "sms_create", setup_py, [setup_py.handsets[0]])
    assert v["text"].startswith("sms from bandwidth-sdk"), ctx(messaging_py, "sms_create")
    assert v["media"] in (None, []), ctx(messaging_py, "sms_create")


def test_create_mms_with_platform_media(messaging_py: dict, setup_py: MessagingSetup) -> None:
    v = _check_message(messaging_py, "mms_create", setup_py, [setup_py.handsets[1]])
    urls = step(messaging_py, "media_list")["mine"]
    png = next(item["content"] for name, item in urls.items() if name.endswith(".png"))
    assert v["media"] == [png], ctx(messaging_py, "mms_create")


def test_create_group_message(messaging_py: dict, setup_py: MessagingSetup) -> None:
    _check_message(messaging_py, "group_create", setup_py, setup_py.handsets[1:3])


def test_list_messages_by_source_tn(messaging_py: dict, setup_py: MessagingSetup) -> None:
    v = step(messaging_py, "messages_list")
    c = ctx(messaging_py, "messages_list")
    assert v["status"] == 200, c
    assert v["total_count_type"] == "int" and v["total_count"] >= 3, c
    by_id: dict[str, list[dict]] = {}
    for item in v["items"]:
        by_id.setdefault(item["message_id"], []).append(item)
    kinds = {"sms_create": "sms", "mms_create": "mms", "group_create": "mms"}
    for name, kind in kinds.items():
        sent = step(messaging_py, name)
        rows = by_id.get(sent["id"])
        assert rows, f"{name} id {sent['id']} not listed\n{c}"
        assert {r["destination_tn"] for r in rows} <= set(sent["to"]), c
        for r in rows:
            assert r["source_tn"] == setup_py.numbers[0], c
            assert r["account_id"] == setup_py.server.account_id, c
            assert r["message_direction"] == "OUTBOUND" and r["message_type"] == kind, c
            assert r["message_status"] in {"QUEUED", "SENDING", "SENT", "DELIVERED", "ACCEPTED"}, c
            assert r["receive_time_type"] == "datetime", c
    assert all(item["source_tn"] == setup_py.numbers[0] for item in v["items"]), c


def test_bad_from_is_bad_request(messaging_py: dict, setup_py: MessagingSetup) -> None:
    v = step(messaging_py, "error_bad_from")
    c = ctx(messaging_py, "error_bad_from")
    assert v["exception"] == "BadRequestException" and v["status"] == 400, c
    assert v["data_type"] == "CreateMessageRequestError", c
    assert v["type"] == "request-validation" and v["description"], c
    assert [f["field_name"] for f in v["field_errors"]] == ["from"], c
    assert all(f["description"] for f in v["field_errors"]), c
    assert set(v["body"]) >= {"type", "description", "fieldErrors"}, c


def test_wrong_password_is_unauthorized(messaging_py: dict) -> None:
    v = step(messaging_py, "error_unauthorized")
    for call in ("create", "list"):
        got = v[call]
        assert got["exception"] == "UnauthorizedException", ctx(messaging_py, "error_unauthorized")
        assert got["is_unauthorized_exception"] and got["status"] == 401, ctx(
            messaging_py, "error_unauthorized"
        )
        assert got["body"]["type"] == "unauthorized", ctx(messaging_py, "error_unauthorized")
        assert got["body"]["description"], ctx(messaging_py, "error_unauthorized")


def test_sdk_messages_get_delivered_callbacks(messaging_py: dict, setup_py: MessagingSetup) -> None:
    sent = {}
    for name in ("sms_create", "mms_create", "group_create"):
        v = step(messaging_py, name)
        sent[v["id"]] = v["to"]
    check_delivered_callbacks(setup_py, sent)


def test_handset_message_reaches_inbound_callback(
    messaging_py: dict, setup_py: MessagingSetup
) -> None:
    check_handset_to_platform(setup_py)
