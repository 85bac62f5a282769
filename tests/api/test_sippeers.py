"""SIP peers (locations) and their products: SMS, MMS, messaging application link, origination."""

from __future__ import annotations

import secrets

import pytest
from lxml import etree

from openband.clock import now
from openband.core import provisioning
from openband.store.schema import phone_numbers
from tests.support.harness import Account
from tests.support.seed004 import CREATE_SIPPEER, ENABLE_MMS, ENABLE_SMS

ADDRESS = (
    "<Address><HouseNumber>1</HouseNumber><StreetName>Main</StreetName><City>Raleigh</City>"
    "<StateCode>NC</StateCode><Zip>27606</Zip></Address>"
)

# Verbatim from the seed walkthrough (004), as tests/support/seed004.py.
SEED_MESSAGING_APP = """<Application>
    <ServiceType>Messaging-V2</ServiceType>
    <AppName>Production Server</AppName>
    <CallbackUrl>https://yourSecureSite.com/callbacks</CallbackUrl>
    <CallbackCreds>
      <UserId>Your-User-id</UserId>
      <Password>Your-Password</Password>
  </CallbackCreds>
</Application>"""

VOICE_APP = (
    "<Application><ServiceType>Voice-V2</ServiceType><AppName>voice</AppName>"
    "<CallInitiatedCallbackUrl>https://a.example.com/answer</CallInitiatedCallbackUrl>"
    "</Application>"
)

# As @bandwidth/numbers builds it (xml2js: declaration, pretty print, SiteId inside SipPeer).
NODE_SDK_PEER = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<SipPeer>
  <SiteId>{site}</SiteId>
  <PeerName>node peer</PeerName>
  <IsDefaultPeer>false</IsDefaultPeer>
</SipPeer>"""


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
    root = etree.fromstring(xml.encode())
    for el in root.iter():
        children = list(el)
        for c in children:
            el.remove(c)
        for c in reversed(children):
            el.append(c)
    return etree.tostring(root).decode()


def no_errors(r) -> None:  # type: ignore[no-untyped-def]
    for tag in (b"ErrorCode", b"<Error>", b"<Errors>", b"ErrorList"):
        assert tag not in r.content


def new_site(account: Account, name: str = "S") -> str:
    r = account.dash("POST", "/sites", f"<Site><Name>{name}</Name>{ADDRESS}</Site>")
    assert r.status_code == 201, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def new_peer(account: Account, site: str, body: str = CREATE_SIPPEER) -> str:
    r = account.dash("POST", f"/sites/{site}/sippeers", body)
    assert r.status_code == 201, r.text
    assert r.content == b""
    loc = r.headers["location"]
    assert f"/api/accounts/{account.account_id}/sites/{site}/sippeers/" in loc
    peer = loc.rsplit("/", 1)[1]
    assert peer.isdigit()
    return peer


def new_app(account: Account, body: str = SEED_MESSAGING_APP) -> str:
    r = account.dash("POST", "/applications", body)
    assert r.status_code == 201, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def peer_doc(account: Account, site: str, peer: str) -> etree._Element:
    r = account.dash("GET", f"/sites/{site}/sippeers/{peer}")
    assert r.status_code == 200, r.text
    root = doc(r)
    assert root.tag == "SipPeerResponse"
    return root.find("SipPeer")


def defaults(account: Account, site: str) -> dict[str, str]:
    r = account.dash("GET", f"/sites/{site}/sippeers")
    assert r.status_code == 200, r.text
    root = doc(r)
    assert root.tag == "TNSipPeersResponse" and root.find("SipPeers") is not None
    return {
        p.findtext("PeerId"): p.findtext("IsDefaultPeer") for p in root.findall("SipPeers/SipPeer")
    }


# --- peers -------------------------------------------------------------------------------------


def test_seed_peer(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    p = peer_doc(account, site, peer)
    assert p.findtext("PeerId") == peer
    assert p.findtext("PeerName") == "Bandwidth Messaging 2 test2"
    assert p.findtext("IsDefaultPeer") == "true"


def test_one_default_peer_per_site(account: Account) -> None:
    site = new_site(account)
    assert defaults(account, site) == {}
    # The first peer is the default even when it asks not to be.
    first = new_peer(account, site, NODE_SDK_PEER.format(site=site))
    second = new_peer(account, site, "<SipPeer><PeerName>b</PeerName></SipPeer>")
    assert defaults(account, site) == {first: "true", second: "false"}
    third = new_peer(
        account,
        site,
        "<SipPeer><IsDefaultPeer>true</IsDefaultPeer><PeerName>c</PeerName></SipPeer>",
    )
    assert defaults(account, site) == {first: "false", second: "false", third: "true"}
    r = account.dash(
        "PUT",
        f"/sites/{site}/sippeers/{second}",
        "<SipPeer><IsDefaultPeer>true</IsDefaultPeer></SipPeer>",
    )
    assert r.status_code == 200, r.text
    assert doc(r).findtext("SipPeer/IsDefaultPeer") == "true"
    assert defaults(account, site) == {first: "false", second: "true", third: "false"}
    # The default cannot simply be switched off; another peer must take over.
    r = account.dash(
        "PUT",
        f"/sites/{site}/sippeers/{second}",
        "<SipPeer><IsDefaultPeer>false</IsDefaultPeer></SipPeer>",
    )
    assert_error(r, 400, 13522)
    # Deleting the default hands the role to the oldest remaining peer.
    assert account.dash("DELETE", f"/sites/{site}/sippeers/{second}").status_code == 200
    assert defaults(account, site) == {first: "true", third: "false"}

    async def check(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            d = await provisioning.default_peer(conn, account.account_id, int(site))
            f = await provisioning.find_peer(conn, account.account_id, third)
            g = await provisioning.get_peer(conn, account.account_id, site, int(first))
            none = await provisioning.find_peer(conn, "another-account", third)
            return d, f, g, none

    d, f, g, none = account.harness.run(check)
    assert d.id == int(first) and d.is_default and d.site_id == int(site)
    assert f.id == int(third) and f.name == "c" and not f.is_default
    assert g == d
    assert none is None


def test_defaults_are_per_site(account: Account) -> None:
    s1, s2 = new_site(account, "A"), new_site(account, "B")
    p1 = new_peer(account, s1)
    p2 = new_peer(account, s2)
    assert defaults(account, s1) == {p1: "true"}
    assert defaults(account, s2) == {p2: "true"}


def test_update_and_echo(account: Account) -> None:
    site = new_site(account)
    body = (
        "<SipPeer><PeerName>name</PeerName><Description>description</Description>"
        "<BillingIdentifier>Customer-Name-00010/01</BillingIdentifier>"
        f"{ADDRESS}<CallingName><Display>true</Display><Enforced>false</Enforced></CallingName>"
        "<VoiceHosts><Host><HostName>10.10.10.1</HostName></Host></VoiceHosts></SipPeer>"
    )
    peer = new_peer(account, site, shuffled(body))
    p = peer_doc(account, site, peer)
    assert p.findtext("Description") == "description"
    assert p.findtext("BillingIdentifier") == "Customer-Name-00010/01"
    assert p.findtext("Address/City") == "Raleigh"
    assert p.findtext("CallingName/Display") == "true"
    r = account.dash(
        "PUT", f"/sites/{site}/sippeers/{peer}", "<SipPeer><PeerName>renamed</PeerName></SipPeer>"
    )
    assert r.status_code == 200, r.text
    assert doc(r).tag == "SipPeerResponse"
    p = peer_doc(account, site, peer)
    assert p.findtext("PeerName") == "renamed"
    assert p.findtext("Description") == "description"


@pytest.mark.parametrize(
    "body,code",
    [
        ("<SipPeer><Description>x</Description></SipPeer>", 1003),
        ("<SipPeer><PeerName>x</PeerName><IsDefaultPeer>maybe</IsDefaultPeer></SipPeer>", 1004),
        ("<SipPeer><PeerName>x</PeerName>", 1001),
        ('<!DOCTYPE p [<!ENTITY a "aaaa">]><SipPeer><PeerName>&a;</PeerName></SipPeer>', 1001),
        ("<SipPeer><PeerName>" + "x" * 300 + "</PeerName></SipPeer>", 1011),
    ],
)
def test_peer_validation(account: Account, body: str, code: int) -> None:
    site = new_site(account)
    r = account.dash("POST", f"/sites/{site}/sippeers", body)
    assert_error(r, 400, code)
    assert doc(r).tag == "SipPeerResponse"
    assert defaults(account, site) == {}


def test_peer_ids_404(account: Account) -> None:
    s1, s2 = new_site(account, "A"), new_site(account, "B")
    peer = new_peer(account, s1)
    for bad in ("abc", "0", "12345678901234567890123", str(int(peer) + 100000)):
        assert_error(account.dash("GET", f"/sites/{s1}/sippeers/{bad}"), 404, 13563)
    # A real peer under the wrong site is not found either.
    assert_error(account.dash("GET", f"/sites/{s2}/sippeers/{peer}"), 404, 13563)
    assert_error(account.dash("DELETE", f"/sites/{s2}/sippeers/{peer}"), 404, 13563)
    assert_error(
        account.dash("GET", f"/sites/{s2}/sippeers/{peer}/products/messaging/features/sms"),
        404,
        13563,
    )
    assert peer_doc(account, s1, peer).findtext("PeerId") == peer


def test_delete_peer_rules(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    base = f"/sites/{site}/sippeers/{peer}"
    assert (
        account.dash("POST", f"{base}/products/messaging/features/sms", ENABLE_SMS).status_code
        == 201
    )
    assert_error(account.dash("DELETE", base), 400, 13613)
    assert account.dash("DELETE", f"{base}/products/messaging/features/sms").status_code == 200

    async def add_number(db):  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            ts = now()
            await conn.execute(
                phone_numbers.insert().values(
                    tn=f"+1984{secrets.randbelow(10**7):07d}",
                    account_id=account.account_id,
                    site_id=int(site),
                    peer_id=int(peer),
                    npa="984",
                    nxx="555",
                    status="Inservice",
                    created_at=ts,
                    updated_at=ts,
                )
            )

    account.harness.run(add_number)
    assert_error(account.dash("DELETE", base), 400, 13614)
    # SMS cannot be turned off while the peer has numbers either.
    assert (
        account.dash("POST", f"{base}/products/messaging/features/sms", ENABLE_SMS).status_code
        == 201
    )
    assert_error(account.dash("DELETE", f"{base}/products/messaging/features/sms"), 400, 13673)
    assert peer_doc(account, site, peer).findtext("PeerId") == peer


# --- SMS / MMS ---------------------------------------------------------------------------------


def test_seed_sms(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    path = f"/sites/{site}/sippeers/{peer}/products/messaging/features/sms"
    assert_error(account.dash("GET", path), 404)
    r = account.dash("POST", path, ENABLE_SMS)
    assert r.status_code == 201, r.text
    no_errors(r)
    root = doc(r)
    assert root.tag == "SipPeerSmsFeatureResponse"
    s = root.find("SipPeerSmsFeature/SipPeerSmsFeatureSettings")
    assert [(c.tag, c.text) for c in s] == [
        ("TollFree", "true"),
        ("ShortCode", "true"),
        ("Protocol", "HTTP"),
        ("Zone1", "true"),
        ("Zone2", "false"),
        ("Zone3", "false"),
        ("Zone4", "false"),
        ("Zone5", "false"),
    ]
    assert root.findtext("SipPeerSmsFeature/HttpSettings/ProxyPeerId").isdigit()
    g = account.dash("GET", path)
    assert g.status_code == 200 and g.content == r.content
    assert peer_doc(account, site, peer).findtext("ShortMessagingProtocol") == "HTTP"

    assert_error(account.dash("POST", path, ENABLE_SMS), 409)
    put = ENABLE_SMS.replace("<TollFree>true</TollFree>", "<TollFree>false</TollFree>")
    put = put.replace(
        "<HttpSettings />", "<HttpSettings><ProxyPeerId>539692</ProxyPeerId></HttpSettings>"
    )
    r = account.dash("PUT", path, shuffled(put))
    assert r.status_code == 200, r.text
    assert doc(r).findtext("SipPeerSmsFeature/SipPeerSmsFeatureSettings/TollFree") == "false"
    assert doc(r).findtext("SipPeerSmsFeature/HttpSettings/ProxyPeerId") == "539692"
    assert account.dash("DELETE", path).status_code == 200
    assert_error(account.dash("GET", path), 404)
    assert_error(account.dash("PUT", path, ENABLE_SMS), 404)
    assert_error(account.dash("DELETE", path), 404)


def test_node_sdk_sms_and_a2p(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    path = f"/sites/{site}/sippeers/{peer}/products/messaging/features/sms"
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<SipPeerSmsFeature>\n'
        "  <SipPeerSmsFeatureSettings>\n    <TollFree>true</TollFree>\n"
        "    <Protocol>HTTP</Protocol>\n    <Zone1>true</Zone1>\n"
        "    <A2pLongCode>DefaultOff</A2pLongCode><A2pMessageClass>Cls</A2pMessageClass>"
        "<A2pCampaignId>CAMP1</A2pCampaignId>\n"
        "  </SipPeerSmsFeatureSettings>\n  <HttpSettings>\n    <ProxyPeerId>539692</ProxyPeerId>\n"
        "  </HttpSettings>\n</SipPeerSmsFeature>"
    )
    r = account.dash("POST", path, body)
    assert r.status_code == 201, r.text
    s = doc(r).find("SipPeerSmsFeature/SipPeerSmsFeatureSettings")
    assert s.findtext("ShortCode") == "false" and s.findtext("Zone2") == "false"
    assert s.findtext("A2pLongCode") == "DefaultOff"
    assert s.findtext("A2pCampaignId") == "CAMP1"


@pytest.mark.parametrize(
    "body,code",
    [
        (
            "<SipPeerSmsFeature><SipPeerSmsFeatureSettings><TollFree>true</TollFree>"
            "</SipPeerSmsFeatureSettings></SipPeerSmsFeature>",
            1003,
        ),
        (
            "<SipPeerSmsFeature><SipPeerSmsFeatureSettings><Protocol>FTP</Protocol>"
            "</SipPeerSmsFeatureSettings></SipPeerSmsFeature>",
            1004,
        ),
        (
            "<SipPeerSmsFeature><SipPeerSmsFeatureSettings><Protocol>HTTP</Protocol>"
            "<TollFree>yes</TollFree></SipPeerSmsFeatureSettings></SipPeerSmsFeature>",
            1004,
        ),
        ("<MmsFeature/>", 1001),
        ("<SipPeerSmsFeature><SipPeerSmsFeatureSettings>", 1001),
    ],
)
def test_sms_validation(account: Account, body: str, code: int) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    path = f"/sites/{site}/sippeers/{peer}/products/messaging/features/sms"
    r = account.dash("POST", path, body)
    assert_error(r, 400, code)
    assert doc(r).tag == "SipPeerSmsFeatureResponse"
    assert_error(account.dash("GET", path), 404)


def test_seed_mms(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    path = f"/sites/{site}/sippeers/{peer}/products/messaging/features/mms"
    r = account.dash("POST", path, ENABLE_MMS)
    assert r.status_code == 201, r.text
    no_errors(r)
    root = doc(r)
    assert root.tag == "MmsFeatureResponse"
    # Bandwidth's own spelling in MMS answers: lower camel case.
    assert root.findtext("MmsFeature/MmsSettings/protocol") == "HTTP"
    assert root.findtext("MmsFeature/Protocols/HTTP/HttpSettings/proxyPeerId").isdigit()
    assert account.dash("GET", path).content == r.content
    assert_error(account.dash("POST", path, ENABLE_MMS), 409)
    # A GET-modify-PUT round trip sends the lower-case spelling back.
    r = account.dash(
        "PUT", path, "<MmsFeature><MmsSettings><protocol>MM4</protocol></MmsSettings></MmsFeature>"
    )
    assert r.status_code == 200, r.text
    assert doc(r).findtext("MmsFeature/MmsSettings/protocol") == "MM4"
    assert_error(
        account.dash(
            "PUT",
            path,
            "<MmsFeature><MmsSettings><Protocol>SMTP</Protocol></MmsSettings></MmsFeature>",
        ),
        400,
        1004,
    )
    assert account.dash("DELETE", path).status_code == 200
    assert_error(account.dash("GET", path), 404)


# --- messaging application link ----------------------------------------------------------------


def _settings(r) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    root = doc(r)
    assert root.tag == "ApplicationsSettingsResponse"
    assert root.find("ApplicationsSettings") is not None
    assert root.find("ApplicationSettings") is not None
    return (
        root.findtext("ApplicationsSettings/HttpMessagingV2AppId"),
        root.findtext("ApplicationSettings/HttpMessagingV2AppId"),
    )


def test_seed_application_settings_both_spellings_and_remove(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    app = new_app(account)
    path = f"/sites/{site}/sippeers/{peer}/products/messaging/applicationSettings"
    assert _settings(account.dash("GET", path)) == (None, None)

    seed = f"""<ApplicationsSettings>
  <HttpMessagingV2AppId>{app}</HttpMessagingV2AppId>
</ApplicationsSettings>"""
    r = account.dash("PUT", path, seed)
    assert r.status_code == 200, r.text
    no_errors(r)
    assert _settings(r) == (app, app)
    assert _settings(account.dash("GET", path)) == (app, app)

    r = account.dash("PUT", path, "<ApplicationsSettings>REMOVE</ApplicationsSettings>")
    assert r.status_code == 200, r.text
    assert _settings(account.dash("GET", path)) == (None, None)

    # The singular spelling @bandwidth/numbers reads is accepted as input too.
    r = account.dash(
        "PUT",
        path,
        f"<ApplicationSettings><HttpMessagingV2AppId>{app}</HttpMessagingV2AppId></ApplicationSettings>",
    )
    assert r.status_code == 200 and _settings(r) == (app, app)
    # A bare REMOVE body (not XML) unlinks as well.
    r = account.dash("PUT", path, "REMOVE")
    assert r.status_code == 200 and _settings(r) == (None, None)

    async def check(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            return await provisioning.get_peer(conn, account.account_id, site, peer)

    assert account.harness.run(check).messaging_app_id is None


def test_application_settings_errors(account: Account, other_account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    app = new_app(account)
    voice = new_app(account, VOICE_APP)
    theirs = new_app(other_account)
    path = f"/sites/{site}/sippeers/{peer}/products/messaging/applicationSettings"
    link = "<ApplicationsSettings><HttpMessagingV2AppId>{}</HttpMessagingV2AppId></ApplicationsSettings>"
    assert account.dash("PUT", path, link.format(app)).status_code == 200

    assert_error(account.dash("PUT", path, link.format(voice)), 400, 13631)
    assert_error(account.dash("PUT", path, link.format(theirs)), 404, 13629)
    assert_error(account.dash("PUT", path, link.format("no-such-app")), 404, 13629)
    assert_error(account.dash("PUT", path, "<ApplicationsSettings/>"), 400, 1003)
    assert_error(account.dash("PUT", path, "<Application/>"), 400, 1001)
    assert_error(account.dash("PUT", path, "<ApplicationsSettings>"), 400, 1001)
    # Nothing changed.
    assert _settings(account.dash("GET", path)) == (app, app)


# --- voice origination -------------------------------------------------------------------------


def test_origination_settings(account: Account, other_account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    voice = new_app(account, VOICE_APP)
    messaging = new_app(account)
    theirs = new_app(other_account, VOICE_APP)
    path = f"/sites/{site}/sippeers/{peer}/products/origination/settings"
    body = (
        "<SipPeerOriginationSettings><VoiceProtocol>HTTP</VoiceProtocol><HttpSettings>"
        "<HttpVoiceV2AppId>{}</HttpVoiceV2AppId></HttpSettings></SipPeerOriginationSettings>"
    )
    assert_error(account.dash("GET", path), 404)
    assert_error(account.dash("POST", path, body.format(messaging)), 400, 13631)
    assert_error(account.dash("POST", path, body.format(theirs)), 404, 13629)
    assert_error(account.dash("POST", path, "<SipPeerOriginationSettings/>"), 400, 1003)
    assert_error(
        account.dash(
            "POST",
            path,
            "<SipPeerOriginationSettings><VoiceProtocol>HTTP</VoiceProtocol></SipPeerOriginationSettings>",
        ),
        400,
        1003,
    )
    assert_error(account.dash("GET", path), 404)

    r = account.dash("POST", path, shuffled(body.format(voice)))
    assert r.status_code == 201, r.text
    no_errors(r)
    root = doc(r)
    assert root.tag == "SipPeerOriginationSettingsResponse"
    assert root.findtext("SipPeerOriginationSettings/VoiceProtocol") == "HTTP"
    assert root.findtext("SipPeerOriginationSettings/HttpSettings/HttpVoiceV2AppId") == voice
    assert account.dash("GET", path).content == r.content
    assert_error(account.dash("POST", path, body.format(voice)), 409)
    assert (
        doc(account.dash("GET", f"/applications/{voice}/associatedsippeers")).findtext(
            "AssociatedSipPeers/AssociatedSipPeer/PeerId"
        )
        == peer
    )

    r = account.dash(
        "PUT",
        path,
        "<SipPeerOriginationSettings><VoiceProtocol>SIP</VoiceProtocol></SipPeerOriginationSettings>",
    )
    assert r.status_code == 200, r.text
    assert doc(r).findtext("SipPeerOriginationSettings/VoiceProtocol") == "SIP"
    assert doc(r).find("SipPeerOriginationSettings/HttpSettings") is None


# --- isolation ---------------------------------------------------------------------------------


def test_other_accounts_peer_is_not_found_and_untouched(
    account: Account, other_account: Account
) -> None:
    my_site = new_site(account)
    their_site = new_site(other_account)
    their_peer = new_peer(other_account, their_site)
    my_app = new_app(account)
    link = f"<ApplicationsSettings><HttpMessagingV2AppId>{my_app}</HttpMessagingV2AppId></ApplicationsSettings>"
    for site in (my_site, their_site):
        base = f"/sites/{site}/sippeers/{their_peer}"
        code = 13563 if site == my_site else 12016
        assert_error(account.dash("GET", base), 404, code)
        assert_error(
            account.dash("PUT", base, "<SipPeer><PeerName>pwned</PeerName></SipPeer>"), 404, code
        )
        assert_error(account.dash("DELETE", base), 404, code)
        assert_error(
            account.dash("POST", f"{base}/products/messaging/features/sms", ENABLE_SMS), 404, code
        )
        assert_error(
            account.dash("POST", f"{base}/products/messaging/features/mms", ENABLE_MMS), 404, code
        )
        assert_error(
            account.dash("PUT", f"{base}/products/messaging/applicationSettings", link), 404, code
        )
        assert_error(
            account.dash("GET", f"{base}/products/messaging/applicationSettings"), 404, code
        )
        assert_error(account.dash("GET", f"{base}/products/origination/settings"), 404, code)
    p = peer_doc(other_account, their_site, their_peer)
    assert p.findtext("PeerName") == "Bandwidth Messaging 2 test2"
    theirs = f"/sites/{their_site}/sippeers/{their_peer}/products/messaging"
    assert_error(other_account.dash("GET", f"{theirs}/features/sms"), 404)
    assert_error(other_account.dash("GET", f"{theirs}/features/mms"), 404)
    assert _settings(other_account.dash("GET", f"{theirs}/applicationSettings")) == (None, None)


def test_auth(account: Account, other_account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    base = f"/sites/{site}/sippeers/{peer}"
    assert_error(account.dash("GET", base, auth=(account.username, "nope")), 401)
    assert_error(
        account.dash(
            "POST", f"{base}/products/messaging/features/sms", ENABLE_SMS, auth=("x", "y")
        ),
        401,
    )
    r = account.client.get(
        f"/api/accounts/{other_account.account_id}/sites/{site}/sippeers", auth=account.auth
    )
    assert_error(r, 403)
    r = account.client.put(
        f"/api/accounts/{other_account.account_id}{base}/products/messaging/applicationSettings",
        content="REMOVE",
        auth=account.auth,
    )
    assert_error(r, 403)


def test_body_too_large(account: Account) -> None:
    site = new_site(account)
    peer = new_peer(account, site)
    big = "<SipPeerSmsFeature>" + "<!-- pad -->" * 100_000 + "</SipPeerSmsFeature>"
    r = account.dash("POST", f"/sites/{site}/sippeers/{peer}/products/messaging/features/sms", big)
    assert r.status_code == 413
    assert doc(r).findtext("ResponseStatus/ErrorCode")
    r = account.dash(
        "POST", f"/sites/{site}/sippeers", "<SipPeer>" + "x" * (1 << 20) + "</SipPeer>"
    )
    assert r.status_code == 413
