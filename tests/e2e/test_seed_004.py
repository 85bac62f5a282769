"""Seed 004, "Bandwidth Messaging API Setup", request by request against a live `openband serve`.

Every request body below is copied verbatim from the guide; only its {{…}} placeholders (and the
sample application id in the assign-application step) are replaced by the ids this run created.
Responses are checked by element path with lxml, never by string equality.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from lxml import etree

from tests.support.live import LiveServer
from tests.support.seed004 import CREATE_SIPPEER, CREATE_SITE, ENABLE_MMS, ENABLE_SMS

pytestmark = [pytest.mark.slow]

XML = {"Content-Type": "application/xml; charset=utf-8"}
ORDER_TIMEOUT = 60.0

CREATE_APPLICATION = """<Application>
    <ServiceType>Messaging-V2</ServiceType>
    <AppName>Production Server</AppName>
    <CallbackUrl>https://yourSecureSite.com/callbacks</CallbackUrl>
    <CallbackCreds>
      <UserId>Your-User-id</UserId>
      <Password>Your-Password</Password>
  </CallbackCreds>
</Application>"""


SEED_APP_ID = "299ab22a-d7e6-4cf6-9f4d-2089efc0c031"
ASSIGN_APPLICATION = """<ApplicationsSettings>
  <HttpMessagingV2AppId>299ab22a-d7e6-4cf6-9f4d-2089efc0c031</HttpMessagingV2AppId>
</ApplicationsSettings>"""

ORDER_910 = """<Order>
  <AreaCodeSearchAndOrderType>
    <AreaCode>910</AreaCode>
    <Quantity>1</Quantity>
  </AreaCodeSearchAndOrderType>
  <SiteId>{{subaccount}}</SiteId>
  <PeerId>{{location}}</PeerId>
</Order>"""


def fill(template: str, **values: str) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{{" + key + "}}", value)
    assert "{{" not in out, out
    return out


def show(r: httpx.Response) -> str:
    headers = {k: v for k, v in r.headers.items() if k.lower() in ("location", "content-type")}
    return f"{r.request.method} {r.request.url} -> {r.status_code} {headers}\n{r.text[:2000]}"


def xml(r: httpx.Response) -> etree._Element:
    try:
        return etree.fromstring(r.content)
    except etree.XMLSyntaxError as exc:
        raise AssertionError(f"response is not XML ({exc}):\n{show(r)}") from None


def expect(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, f"expected {status}\n{show(r)}"


def location_id(r: httpx.Response, path_re: str) -> str:
    """The id at the end of the Location header, which must name the created resource."""
    loc = r.headers.get("location")
    assert loc, f"no Location header\n{show(r)}"
    m = re.search(path_re + r"/([^/?#]+)$", loc)
    assert m, f"Location {loc!r} does not match …{path_re}/{{id}}\n{show(r)}"
    return m.group(1)


def test_seed_004_messaging_setup(live_server: LiveServer) -> None:
    acct = live_server.account_id
    base = f"/api/accounts/{acct}"
    with live_server.client() as c:
        # 1. Create application.
        r = c.post(f"{base}/applications", content=CREATE_APPLICATION, headers=XML)
        expect(r, 201)
        doc = xml(r)
        assert doc.tag == "ApplicationProvisioningResponse", show(r)
        app_id = doc.findtext("Application/ApplicationId")
        assert app_id, show(r)
        assert doc.findtext("Application/ServiceType") == "Messaging-V2", show(r)
        assert doc.findtext("Application/AppName") == "Production Server", show(r)
        assert doc.findtext("Application/CallbackUrl") == "https://yourSecureSite.com/callbacks"
        assert doc.findtext("Application/CallbackCreds/UserId") == "Your-User-id", show(r)
        assert location_id(r, f"/accounts/{acct}/applications") == app_id

        # 2. Create sub-account (site).
        r = c.post(f"{base}/sites", content=CREATE_SITE, headers=XML)
        expect(r, 201)
        site_id = location_id(r, f"/accounts/{acct}/sites")

        # 3. Create location (sippeer): 201, no body, the id only in Location.
        r = c.post(f"{base}/sites/{site_id}/sippeers", content=CREATE_SIPPEER, headers=XML)
        expect(r, 201)
        assert r.content.strip() == b"", f"sippeer create must answer with no body\n{show(r)}"
        peer_id = location_id(r, f"/accounts/{acct}/sites/{site_id}/sippeers")
        peer = f"{base}/sites/{site_id}/sippeers/{peer_id}"

        # 4. Enable SMS on the location.
        r = c.post(f"{peer}/products/messaging/features/sms", content=ENABLE_SMS, headers=XML)
        expect(r, 201)
        doc = xml(r)
        assert doc.tag == "SipPeerSmsFeatureResponse", show(r)
        settings = doc.find("SipPeerSmsFeature/SipPeerSmsFeatureSettings")
        assert settings is not None, show(r)
        expected = {
            "TollFree": "true",
            "ShortCode": "true",
            "Protocol": "HTTP",
            "Zone1": "true",
            "Zone2": "false",
            "Zone3": "false",
            "Zone4": "false",
            "Zone5": "false",
        }
        assert {k: settings.findtext(k) for k in expected} == expected, show(r)
        proxy = doc.findtext("SipPeerSmsFeature/HttpSettings/ProxyPeerId")
        assert proxy and proxy.isdigit(), f"HttpSettings/ProxyPeerId\n{show(r)}"

        # 5. Enable MMS on the location (the response uses lower-case protocol/proxyPeerId).
        r = c.post(f"{peer}/products/messaging/features/mms", content=ENABLE_MMS, headers=XML)
        expect(r, 201)
        doc = xml(r)
        assert doc.tag == "MmsFeatureResponse", show(r)
        assert doc.findtext("MmsFeature/MmsSettings/protocol") == "HTTP", show(r)
        mms_proxy = doc.findtext("MmsFeature/Protocols/HTTP/HttpSettings/proxyPeerId")
        assert mms_proxy and mms_proxy.isdigit(), show(r)

        # 6. Assign the application to the location.
        body = ASSIGN_APPLICATION.replace(SEED_APP_ID, app_id)
        r = c.put(f"{peer}/products/messaging/applicationSettings", content=body, headers=XML)
        expect(r, 200)
        doc = xml(r)
        assert doc.tag == "ApplicationsSettingsResponse", show(r)
        assert doc.findtext("ApplicationsSettings/HttpMessagingV2AppId") == app_id, show(r)

        # 7. Order one available 910 number onto the location.
        body = fill(ORDER_910, subaccount=site_id, location=peer_id)
        r = c.post(f"{base}/orders", content=body, headers=XML)
        expect(r, 201)
        doc = xml(r)
        assert doc.tag == "OrderResponse", show(r)
        order_id = doc.findtext("Order/id")
        assert order_id, show(r)
        assert location_id(r, f"/accounts/{acct}/orders") == order_id, show(r)
        assert doc.findtext("OrderStatus") == "RECEIVED", show(r)
        assert doc.findtext("Order/SiteId") == site_id, show(r)
        assert doc.findtext("Order/PeerId") == peer_id, show(r)
        assert doc.findtext("Order/AreaCodeSearchAndOrderType/AreaCode") == "910", show(r)
        assert doc.findtext("Order/AreaCodeSearchAndOrderType/Quantity") == "1", show(r)
        assert doc.findtext("Order/OrderCreateDate"), show(r)

        # 8. Check the order status until COMPLETE (the guide's GET carries a Content-Type too).
        deadline = time.monotonic() + ORDER_TIMEOUT
        while True:
            r = c.get(f"{base}/orders/{order_id}", headers=XML)
            expect(r, 200)
            doc = xml(r)
            assert doc.tag == "OrderResponse", show(r)
            status = doc.findtext("OrderStatus")
            assert status in ("RECEIVED", "PROCESSING", "COMPLETE"), show(r)
            if status == "COMPLETE":
                break
            assert time.monotonic() < deadline, f"order not COMPLETE in {ORDER_TIMEOUT}s\n{show(r)}"
            time.sleep(0.2)
        numbers = [e.text for e in doc.findall("CompletedNumbers/TelephoneNumber/FullNumber")]
        assert len(numbers) == 1, show(r)
        tn = numbers[0]
        assert tn and re.fullmatch(r"910\d{7}", tn), show(r)
        assert doc.findtext("CompletedQuantity") == "1", show(r)
        assert doc.findtext("FailedQuantity") == "0", show(r)
        assert doc.findtext("OrderCompleteDate"), show(r)
        assert doc.findtext("Order/SiteId") == site_id, show(r)
        assert doc.findtext("Order/PeerId") == peer_id, show(r)

        # The number is in service on the account…
        r = c.get(f"{base}/inserviceNumbers", headers=XML)
        expect(r, 200)
        doc = xml(r)
        assert doc.tag == "TNs", show(r)
        assert tn in [e.text for e in doc.findall("TelephoneNumbers/TelephoneNumber")], show(r)

        # …and on the location.
        r = c.get(f"{peer}/tns", headers=XML)
        expect(r, 200)
        doc = xml(r)
        assert doc.tag == "SipPeerTelephoneNumbersResponse", show(r)
        path = "SipPeerTelephoneNumbers/SipPeerTelephoneNumber/FullNumber"
        assert [e.text for e in doc.findall(path)] == [tn], show(r)

        # The guide's host path is /api; the same order answers under the other prefixes.
        for prefix in ("/api/v1", "/v1.0"):
            r = c.get(f"{prefix}/accounts/{acct}/orders/{order_id}", headers=XML)
            expect(r, 200)
            assert xml(r).findtext("OrderStatus") == "COMPLETE", show(r)
