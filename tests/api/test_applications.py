"""Dashboard applications: create/list/get/PUT/PATCH/DELETE, associated peers, hostile input."""

from __future__ import annotations

import dataclasses
import re

import pytest
from lxml import etree

from openband.core import provisioning
from openband.core.provisioning.config import open_secrets
from tests.support.harness import Account

# Verbatim from the seed walkthrough (004).
SEED_APP = """<Application>
    <ServiceType>Messaging-V2</ServiceType>
    <AppName>Production Server</AppName>
    <CallbackUrl>https://yourSecureSite.com/callbacks</CallbackUrl>
    <CallbackCreds>
      <UserId>Your-User-id</UserId>
      <Password>Your-Password</Password>
  </CallbackCreds>
</Application>"""

# The spec's messaging and voice examples.
MESSAGING_APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Application>
  <ServiceType>Messaging</ServiceType>
  <AppName>EBVICs</AppName>
  <InboundCallbackUrl>https://example.com</InboundCallbackUrl>
  <OutboundCallbackUrl>https://example2.com</OutboundCallbackUrl>
  <InboundCallbackCreds>
    <UserId>15jPWZmXdm</UserId>
    <Password>xxv3jPsPR2</Password>
  </InboundCallbackCreds>
  <OutboundCallbackCreds>
    <UserId>15jPWZmXdm</UserId>
    <Password>xxv3jPsPR2</Password>
  </OutboundCallbackCreds>
  <RequestedCallbackTypes>
    <CallbackType>message-delivered</CallbackType>
    <CallbackType>message-failed</CallbackType>
    <CallbackType>message-sending</CallbackType>
  </RequestedCallbackTypes>
</Application>"""

VOICE_APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Application>
  <ServiceType>Voice</ServiceType>
  <AppName>v1</AppName>
  <CallInitiatedCallbackUrl>https://a.com</CallInitiatedCallbackUrl>
  <CallInitiatedMethod>GET</CallInitiatedMethod>
  <CallStatusCallbackUrl>https://b.com</CallStatusCallbackUrl>
  <CallStatusMethod>GET</CallStatusMethod>
  <CallbackCreds>
    <UserId>login123</UserId>
    <Password>password123</Password>
  </CallbackCreds>
  <CallInitiatedFallbackUrl>https://fallback.com</CallInitiatedFallbackUrl>
  <CallInitiatedFallbackMethod>POST</CallInitiatedFallbackMethod>
  <CallInitiatedFallbackCreds>
    <UserId>login2</UserId>
    <Password>Password3</Password>
  </CallInitiatedFallbackCreds>
  <CallbackTimeout>20</CallbackTimeout>
</Application>"""

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def doc(r) -> etree._Element:  # type: ignore[no-untyped-def]
    return etree.fromstring(r.content)


def assert_error(r, status: int, code: int | None = None) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    root = doc(r)
    ec = root.findtext("ResponseStatus/ErrorCode") or root.findtext("ErrorList/Error/Code")
    desc = root.findtext("ResponseStatus/Description") or root.findtext(
        "ErrorList/Error/Description"
    )
    assert ec and desc, r.text
    if code is not None:
        assert ec == str(code), r.text


def shuffled(xml: str) -> str:
    """The same document with every element's children in reverse order."""
    root = etree.fromstring(xml.encode())
    for el in root.iter():
        children = list(el)
        for c in children:
            el.remove(c)
        for c in reversed(children):
            el.append(c)
    return etree.tostring(root).decode()


def create(account: Account, body: str = SEED_APP) -> str:
    r = account.dash("POST", "/applications", body)
    assert r.status_code == 201, r.text
    app_id = r.headers["location"].rsplit("/", 1)[1]
    assert UUID.match(app_id)
    assert doc(r).findtext("Application/ApplicationId") == app_id
    return app_id


def app_ids(account: Account) -> list[str]:
    r = account.dash("GET", "/applications")
    assert r.status_code == 200, r.text
    root = doc(r)
    assert root.tag == "ApplicationProvisioningResponse"
    assert root.find("ApplicationList") is not None
    return [a.findtext("ApplicationId") for a in root.findall("ApplicationList/Application")]


def stored(account: Account, app_id: str) -> provisioning.ApplicationRow:
    """The stored row, its config's secrets opened (they are stored sealed:
    tests/security/test_secrets_at_rest.py)."""

    async def get(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            return await provisioning.get_application(conn, account.account_id, app_id)

    row = account.harness.run(get)
    sealer = account.harness.app.state.platform.sealer
    return dataclasses.replace(row, config=open_secrets(row.config, sealer))


def test_seed_application_create_and_get(account: Account) -> None:
    r = account.dash("POST", "/applications", SEED_APP)
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    assert loc.startswith("http") and f"/api/accounts/{account.account_id}/applications/" in loc
    body = doc(r)
    assert body.tag == "ApplicationProvisioningResponse"
    app = body.find("Application")
    assert app.findtext("ServiceType") == "Messaging-V2"
    assert app.findtext("AppName") == "Production Server"
    assert app.findtext("CallbackUrl") == "https://yourSecureSite.com/callbacks"
    assert app.findtext("CallbackCreds/UserId") == "Your-User-id"
    assert b"Password" not in r.content and b"Your-Password" not in r.content
    assert b"ErrorCode" not in r.content

    app_id = loc.rsplit("/", 1)[1]
    g = account.dash("GET", f"/applications/{app_id}")
    assert g.status_code == 200
    assert doc(g).findtext("Application/ApplicationId") == app_id
    assert b"Your-Password" not in g.content
    row = stored(account, app_id)
    assert row.config == {
        "callback_url": "https://yourSecureSite.com/callbacks",
        "callback_creds": {"user_id": "Your-User-id", "password": "Your-Password"},
    }


def test_messaging_application_every_field(account: Account) -> None:
    app_id = create(account, MESSAGING_APP)
    r = account.dash("GET", f"/applications/{app_id}")
    app = doc(r).find("Application")
    assert app.findtext("ServiceType") == "Messaging-V2"
    assert app.findtext("InboundCallbackUrl") == "https://example.com"
    assert app.findtext("OutboundCallbackUrl") == "https://example2.com"
    assert app.findtext("InboundCallbackCreds/UserId") == "15jPWZmXdm"
    assert app.findtext("OutboundCallbackCreds/UserId") == "15jPWZmXdm"
    assert [t.text for t in app.findall("RequestedCallbackTypes/CallbackType")] == [
        "message-delivered",
        "message-failed",
        "message-sending",
    ]
    assert b"Password" not in r.content and b"xxv3jPsPR2" not in r.content
    cfg = stored(account, app_id).config
    assert cfg["inbound_callback_creds"] == {"user_id": "15jPWZmXdm", "password": "xxv3jPsPR2"}
    assert cfg["requested_callback_types"] == [
        "message-delivered",
        "message-failed",
        "message-sending",
    ]


def test_voice_application_every_field(account: Account) -> None:
    app_id = create(account, VOICE_APP)
    r = account.dash("GET", f"/applications/{app_id}")
    app = doc(r).find("Application")
    assert app.findtext("ServiceType") == "Voice-V2"
    for tag, value in [
        ("CallInitiatedCallbackUrl", "https://a.com"),
        ("CallInitiatedMethod", "GET"),
        ("CallStatusCallbackUrl", "https://b.com"),
        ("CallStatusMethod", "GET"),
        ("CallbackCreds/UserId", "login123"),
        ("CallInitiatedFallbackUrl", "https://fallback.com"),
        ("CallInitiatedFallbackMethod", "POST"),
        ("CallInitiatedFallbackCreds/UserId", "login2"),
        ("CallbackTimeout", "20"),
    ]:
        assert app.findtext(tag) == value, tag
    assert b"Password" not in r.content
    cfg = stored(account, app_id).config
    assert cfg["callback_timeout"] == 20
    assert cfg["call_initiated_fallback_creds"]["password"] == "Password3"
    assert cfg["call_initiated_method"] == "GET"


def test_shuffled_element_order(account: Account) -> None:
    app_id = create(account, shuffled(VOICE_APP))
    app = doc(account.dash("GET", f"/applications/{app_id}")).find("Application")
    assert app.findtext("CallInitiatedFallbackCreds/UserId") == "login2"
    assert app.findtext("AppName") == "v1"


def test_list_empty_then_two(account: Account) -> None:
    assert app_ids(account) == []
    a = create(account)
    b = create(account, VOICE_APP)
    assert app_ids(account) == [a, b]
    r = account.dash("GET", "/applications")
    assert b"Password" not in r.content


def test_put_replaces(account: Account) -> None:
    app_id = create(account, MESSAGING_APP)
    body = """<Application><ServiceType>Messaging-V2</ServiceType><AppName>renamed</AppName>
      <InboundCallbackUrl>https://new.example.com/in</InboundCallbackUrl>
      <InboundCallbackCreds><UserId>15jPWZmXdm</UserId></InboundCallbackCreds>
    </Application>"""
    r = account.dash("PUT", f"/applications/{app_id}", body)
    assert r.status_code == 200, r.text
    app = doc(r).find("Application")
    assert app.findtext("AppName") == "renamed"
    assert app.findtext("InboundCallbackUrl") == "https://new.example.com/in"
    assert app.find("OutboundCallbackUrl") is None
    assert app.find("RequestedCallbackTypes") is None
    cfg = stored(account, app_id).config
    assert set(cfg) == {"inbound_callback_url", "inbound_callback_creds"}
    # Same UserId and no Password (a GET-modify-PUT round trip): the password is kept.
    assert cfg["inbound_callback_creds"]["password"] == "xxv3jPsPR2"


def test_patch_merges_and_removes(account: Account) -> None:
    app_id = create(account, VOICE_APP)
    r = account.dash(
        "PATCH", f"/applications/{app_id}", "<Application><AppName>XgRIdP</AppName></Application>"
    )
    assert r.status_code == 200, r.text
    app = doc(r).find("Application")
    assert app.findtext("AppName") == "XgRIdP"
    assert app.findtext("CallStatusCallbackUrl") == "https://b.com"
    assert app.findtext("CallbackTimeout") == "20"
    r = account.dash(
        "PATCH",
        f"/applications/{app_id}",
        "<Application><CallStatusCallbackUrl>remove</CallStatusCallbackUrl>"
        "<CallbackCreds><Password>newpass</Password></CallbackCreds></Application>",
    )
    assert r.status_code == 200, r.text
    app = doc(r).find("Application")
    assert app.find("CallStatusCallbackUrl") is None
    assert app.findtext("CallInitiatedCallbackUrl") == "https://a.com"
    cfg = stored(account, app_id).config
    assert cfg["callback_creds"] == {"user_id": "login123", "password": "newpass"}
    assert b"newpass" not in r.content


def test_delete(account: Account) -> None:
    app_id = create(account)
    r = account.dash("DELETE", f"/applications/{app_id}")
    assert r.status_code == 200, r.text
    assert_error(account.dash("GET", f"/applications/{app_id}"), 404, 13629)
    assert_error(account.dash("DELETE", f"/applications/{app_id}"), 404, 13629)


def _site_and_peer(account: Account) -> tuple[str, str]:
    r = account.dash(
        "POST",
        "/sites",
        "<Site><Name>S1</Name><Address><HouseNumber>1</HouseNumber><StreetName>Main</StreetName>"
        "<City>Raleigh</City><StateCode>NC</StateCode><Zip>27606</Zip></Address></Site>",
    )
    assert r.status_code == 201, r.text
    site_id = r.headers["location"].rsplit("/", 1)[1]
    r = account.dash(
        "POST", f"/sites/{site_id}/sippeers", "<SipPeer><PeerName>P1</PeerName></SipPeer>"
    )
    assert r.status_code == 201, r.text
    return site_id, r.headers["location"].rsplit("/", 1)[1]


def test_associated_sippeers_and_delete_while_linked(account: Account) -> None:
    app_id = create(account)
    r = account.dash("GET", f"/applications/{app_id}/associatedsippeers")
    assert r.status_code == 200, r.text
    assert doc(r).tag == "AssociatedSipPeersResponse"
    assert doc(r).find("AssociatedSipPeers") is not None
    assert doc(r).findall("AssociatedSipPeers/AssociatedSipPeer") == []

    site_id, peer_id = _site_and_peer(account)
    link = f"<ApplicationsSettings><HttpMessagingV2AppId>{app_id}</HttpMessagingV2AppId></ApplicationsSettings>"
    path = f"/sites/{site_id}/sippeers/{peer_id}/products/messaging/applicationSettings"
    assert account.dash("PUT", path, link).status_code == 200
    r = account.dash("GET", f"/applications/{app_id}/associatedsippeers")
    peers = doc(r).findall("AssociatedSipPeers/AssociatedSipPeer")
    assert len(peers) == 1
    assert peers[0].findtext("PeerId") == peer_id
    assert peers[0].findtext("SiteId") == site_id
    assert peers[0].findtext("SiteName") == "S1"
    assert peers[0].findtext("PeerName") == "P1"

    assert_error(account.dash("DELETE", f"/applications/{app_id}"), 409, 13630)
    assert account.dash("GET", f"/applications/{app_id}").status_code == 200
    # Changing the service type of an assigned application is refused too.
    r = account.dash(
        "PATCH",
        f"/applications/{app_id}",
        "<Application><ServiceType>Voice-V2</ServiceType>"
        "<CallInitiatedCallbackUrl>https://a.com</CallInitiatedCallbackUrl></Application>",
    )
    assert_error(r, 400, 13630)
    assert (
        account.dash("PUT", path, "<ApplicationsSettings>REMOVE</ApplicationsSettings>").status_code
        == 200
    )
    assert account.dash("DELETE", f"/applications/{app_id}").status_code == 200
    assert_error(account.dash("GET", f"/applications/{app_id}/associatedsippeers"), 404, 13629)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Application><ServiceType>Messaging-V2</ServiceType><AppName>&lol3;</AppName></Application>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Application><ServiceType>Messaging-V2</ServiceType><AppName>&xxe;</AppName></Application>"""


@pytest.mark.parametrize(
    "body,code",
    [
        ("<Application><ServiceType>Messaging-V2</ServiceType><AppName>x</AppName>", 1001),
        ("not xml at all", 1001),
        ("", 1001),
        (BILLION_LAUGHS, 1001),
        (XXE, 1001),
        ("<Site><Name>x</Name></Site>", 1001),
        ("<Application><AppName>x</AppName></Application>", 1003),
        ("<Application><ServiceType>Messaging-V2</ServiceType></Application>", 1003),
        ("<Application><ServiceType>Fax</ServiceType><AppName>x</AppName></Application>", 1004),
        (
            "<Application><ServiceType>Voice-V2</ServiceType><AppName>x</AppName></Application>",
            1003,
        ),
        (
            "<Application><ServiceType>Voice-V2</ServiceType><AppName>x</AppName>"
            "<CallInitiatedCallbackUrl>https://a.com</CallInitiatedCallbackUrl>"
            "<CallbackTimeout>abc</CallbackTimeout></Application>",
            1004,
        ),
        (
            "<Application><ServiceType>Voice-V2</ServiceType><AppName>x</AppName>"
            "<CallInitiatedCallbackUrl>https://a.com</CallInitiatedCallbackUrl>"
            "<CallInitiatedMethod>PUT</CallInitiatedMethod></Application>",
            1004,
        ),
        (
            "<Application><ServiceType>Messaging-V2</ServiceType><AppName>x</AppName>"
            "<InboundCallbackUrl>ftp://x</InboundCallbackUrl></Application>",
            1004,
        ),
        (
            "<Application><ServiceType>Messaging-V2</ServiceType><AppName>x</AppName>"
            "<RequestedCallbackTypes><CallbackType>message-read</CallbackType>"
            "</RequestedCallbackTypes></Application>",
            1004,
        ),
        (
            "<Application><ServiceType>Messaging-V2</ServiceType><AppName>"
            + "n" * 300
            + "</AppName></Application>",
            1011,
        ),
    ],
)
def test_hostile_and_invalid_bodies(account: Account, body: str, code: int) -> None:
    r = account.dash("POST", "/applications", body)
    assert_error(r, 400, code)
    assert doc(r).tag == "ApplicationProvisioningResponse"
    assert b"root:" not in r.content and b"lollol" not in r.content
    assert app_ids(account) == []


def test_invalid_put_and_patch_write_nothing(account: Account) -> None:
    app_id = create(account, VOICE_APP)
    bad = "<Application><AppName>y</AppName><CallbackTimeout>abc</CallbackTimeout></Application>"
    assert_error(account.dash("PUT", f"/applications/{app_id}", bad), 400, 1004)
    assert_error(account.dash("PATCH", f"/applications/{app_id}", bad), 400, 1004)
    assert stored(account, app_id).name == "v1"


def test_body_too_large(account: Account) -> None:
    big = "<Application><AppName>" + "x" * (1024 * 1024 + 10) + "</AppName></Application>"
    r = account.dash("POST", "/applications", big)
    assert r.status_code == 413
    assert doc(r).findtext("ResponseStatus/ErrorCode")
    assert app_ids(account) == []


def test_other_accounts_application_is_not_found(account: Account, other_account: Account) -> None:
    theirs = create(other_account, VOICE_APP)
    assert_error(account.dash("GET", f"/applications/{theirs}"), 404, 13629)
    assert_error(account.dash("PUT", f"/applications/{theirs}", SEED_APP), 404, 13629)
    assert_error(
        account.dash(
            "PATCH", f"/applications/{theirs}", "<Application><AppName>pwn</AppName></Application>"
        ),
        404,
        13629,
    )
    assert_error(account.dash("DELETE", f"/applications/{theirs}"), 404, 13629)
    assert_error(account.dash("GET", f"/applications/{theirs}/associatedsippeers"), 404, 13629)
    r = other_account.dash("GET", f"/applications/{theirs}")
    assert r.status_code == 200
    assert doc(r).findtext("Application/AppName") == "v1"
    assert app_ids(account) == []


def test_auth(account: Account, other_account: Account) -> None:
    app_id = create(account)
    r = account.dash("GET", f"/applications/{app_id}", auth=(account.username, "wrong"))
    assert_error(r, 401)
    r = account.dash("POST", "/applications", SEED_APP, auth=(account.username, "wrong"))
    assert_error(r, 401)
    r = account.client.get(
        f"/api/accounts/{other_account.account_id}/applications", auth=account.auth
    )
    assert_error(r, 403)
    r = account.client.post(
        f"/api/accounts/{other_account.account_id}/applications",
        content=SEED_APP,
        auth=account.auth,
    )
    assert_error(r, 403)
    assert app_ids(other_account) == []


def test_prefix_is_kept_in_location(account: Account) -> None:
    r = account.client.post(
        f"/v1.0/accounts/{account.account_id}/applications", content=SEED_APP, auth=account.auth
    )
    assert r.status_code == 201
    assert f"/v1.0/accounts/{account.account_id}/applications/" in r.headers["location"]
