"""Dashboard sites (sub-accounts): create/list/get/PUT/DELETE, validation, isolation."""

from __future__ import annotations

import secrets

import pytest
from lxml import etree

from openband.clock import now
from openband.core import provisioning
from openband.errors import NotFound
from openband.store.schema import phone_numbers
from tests.support.harness import Account
from tests.support.seed004 import CREATE_SITE, CREATE_UC_SITE

# bandwidth-numbers-sdk writes children in alphabetical order.
PY_SDK_SITE = (
    "<?xml version='1.0' encoding='UTF-8'?>\n<Site><Address><AddressType>Service</AddressType>"
    "<City>Raleigh</City><HouseNumber>900</HouseNumber><StateCode>NC</StateCode>"
    "<StreetName>Main Campus Drive</StreetName><Zip>27606</Zip></Address>"
    "<Description>test</Description><Name>Local Site</Name></Site>"
)

ADDRESS = (
    "<Address><HouseNumber>1</HouseNumber><StreetName>Main</StreetName><City>Raleigh</City>"
    "<StateCode>NC</StateCode><Zip>27606</Zip></Address>"
)


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


def create_site(account: Account, body: str = CREATE_SITE) -> str:
    r = account.dash("POST", "/sites", body)
    assert r.status_code == 201, r.text
    site_id = r.headers["location"].rsplit("/", 1)[1]
    assert site_id.isdigit()
    return site_id


def site_ids(account: Account) -> list[str]:
    r = account.dash("GET", "/sites")
    assert r.status_code == 200, r.text
    root = doc(r)
    assert root.tag == "SitesResponse" and root.find("Sites") is not None
    return [s.findtext("Id") for s in root.findall("Sites/Site")]


def test_seed_site(account: Account) -> None:
    r = account.dash("POST", "/sites", CREATE_SITE)
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    assert f"/api/accounts/{account.account_id}/sites/" in loc
    site_id = loc.rsplit("/", 1)[1]
    assert doc(r).findtext("Site/Id") == site_id
    assert b"ErrorCode" not in r.content

    g = account.dash("GET", f"/sites/{site_id}")
    assert g.status_code == 200, g.text
    root = doc(g)
    assert root.tag == "SiteResponse"
    site = root.find("Site")
    assert site.findtext("Id") == site_id
    assert site.findtext("Name") == "Raleigh"
    assert site.findtext("Description") == "Test Gateway"
    assert site.findtext("CustomerName") == "BW"
    addr = site.find("Address")
    for tag, value in [
        ("HouseNumber", "1600"),
        ("StreetName", "PENNSYLVANIA"),
        ("StreetSuffix", "AVE"),
        ("PostDirectional", "NW"),
        ("City", "WASHINGTON"),
        ("StateCode", "DC"),
        ("Zip", "20006"),
        ("Country", "US"),
        ("AddressType", "Service"),
    ]:
        assert addr.findtext(tag) == value, tag
    assert site.find("UcTrunkingConfiguration") is None


def test_seed_uc_site_echoes_trunking(account: Account) -> None:
    site_id = create_site(account, CREATE_UC_SITE)
    site = doc(account.dash("GET", f"/sites/{site_id}")).find("Site")
    assert site.findtext("UcTrunkingConfiguration/Type") == "Seats"
    assert site.findtext("UcTrunkingConfiguration/UsageCategory") == "UC500"


def test_alphabetical_order_and_optional_fields(account: Account) -> None:
    site_id = create_site(account, PY_SDK_SITE)
    site = doc(account.dash("GET", f"/sites/{site_id}")).find("Site")
    assert site.findtext("Name") == "Local Site"
    assert site.findtext("Address/StreetName") == "Main Campus Drive"
    body = f"<Site><CustomerProvidedID>cust-12</CustomerProvidedID><Name>x</Name>{ADDRESS}</Site>"
    site_id = create_site(account, body)
    site = doc(account.dash("GET", f"/sites/{site_id}")).find("Site")
    assert site.findtext("CustomerProvidedID") == "cust-12"
    assert site.findtext("Address/AddressType") == "Service"


def test_list(account: Account) -> None:
    assert site_ids(account) == []
    a = create_site(account)
    b = create_site(account, CREATE_UC_SITE)
    assert site_ids(account) == [a, b]


def test_put_replaces(account: Account) -> None:
    site_id = create_site(account, CREATE_UC_SITE)
    body = f"<Site><Name>Durham</Name><Description>SIP gateway</Description>{ADDRESS}</Site>"
    r = account.dash("PUT", f"/sites/{site_id}", body)
    assert r.status_code == 200, r.text
    site = doc(account.dash("GET", f"/sites/{site_id}")).find("Site")
    assert site.findtext("Name") == "Durham"
    assert site.findtext("Description") == "SIP gateway"
    assert site.find("CustomerName") is None
    assert site.find("UcTrunkingConfiguration") is None
    assert site.findtext("Address/City") == "Raleigh"
    # A PUT without Address is refused like a create.
    r = account.dash("PUT", f"/sites/{site_id}", "<Site><Name>Nope</Name></Site>")
    assert_error(r, 400, 1003)
    assert doc(account.dash("GET", f"/sites/{site_id}")).findtext("Site/Name") == "Durham"


@pytest.mark.parametrize(
    "body,code,text",
    [
        (f"<Site>{ADDRESS}</Site>", 1003, "Name is required"),
        (f"<Site><Name>ElevenChars</Name>{ADDRESS}</Site>", 1011, "Name"),
        ("<Site><Name>x</Name></Site>", 1003, "Address is required"),
        (
            "<Site><Name>x</Name><Address><HouseNumber>1</HouseNumber><StreetName>Main"
            "</StreetName><StateCode>NC</StateCode><Zip>27606</Zip></Address></Site>",
            1003,
            "City is required",
        ),
        (f"<Site><Name>x</Name><CustomerName>{'c' * 51}</CustomerName>{ADDRESS}</Site>", 1011, ""),
        (
            f"<Site><Name>x</Name><CustomerProvidedID>12345678901</CustomerProvidedID>{ADDRESS}"
            "</Site>",
            1011,
            "",
        ),
        (f"<Site><Name>x</Name>{ADDRESS.replace('NC', 'North Carolina')}</Site>", 1004, ""),
        (f"<Site><Name>x</Name>{ADDRESS.replace('27606', 'ABCDE')}</Site>", 1004, ""),
        (
            f"<Site><Name>x</Name>{ADDRESS}<UcTrunkingConfiguration><Type>Rack</Type>"
            "</UcTrunkingConfiguration></Site>",
            1004,
            "",
        ),
        ("<Site><Name>x</Name", 1001, ""),
        (
            '<!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/hostname">]><Site><Name>&e;</Name>'
            f"{ADDRESS}</Site>",
            1001,
            "",
        ),
    ],
)
def test_validation(account: Account, body: str, code: int, text: str) -> None:
    r = account.dash("POST", "/sites", body)
    assert_error(r, 400, code)
    assert doc(r).tag == "SiteResponse"
    assert text in doc(r).findtext("ResponseStatus/Description")
    assert site_ids(account) == []


def test_body_too_large(account: Account) -> None:
    r = account.dash("POST", "/sites", "<Site>" + " " * (1024 * 1024 + 1) + "</Site>")
    assert r.status_code == 413
    assert doc(r).findtext("ResponseStatus/ErrorCode")
    assert site_ids(account) == []


def test_delete_rules(account: Account) -> None:
    site_id = create_site(account)
    r = account.dash(
        "POST", f"/sites/{site_id}/sippeers", "<SipPeer><PeerName>p</PeerName></SipPeer>"
    )
    peer_id = r.headers["location"].rsplit("/", 1)[1]
    assert_error(account.dash("DELETE", f"/sites/{site_id}"), 400, 12060)
    assert account.dash("GET", f"/sites/{site_id}").status_code == 200
    assert account.dash("DELETE", f"/sites/{site_id}/sippeers/{peer_id}").status_code == 200
    assert account.dash("DELETE", f"/sites/{site_id}").status_code == 200
    assert_error(account.dash("GET", f"/sites/{site_id}"), 404, 12016)
    assert site_ids(account) == []


def test_delete_site_with_numbers_is_refused(account: Account) -> None:
    site_id = create_site(account)

    async def add_number(db):  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            ts = now()
            await conn.execute(
                phone_numbers.insert().values(
                    tn=f"+1919{secrets.randbelow(10**7):07d}",
                    account_id=account.account_id,
                    site_id=int(site_id),
                    status="Inservice",
                    npa="919",
                    nxx="555",
                    created_at=ts,
                    updated_at=ts,
                )
            )

    account.harness.run(add_number)
    assert_error(account.dash("DELETE", f"/sites/{site_id}"), 400, 12060)
    assert account.dash("GET", f"/sites/{site_id}").status_code == 200


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "1.5", "99999999999999999999999", "9" * 18])
def test_unknown_and_malformed_ids_are_404(account: Account, bad: str) -> None:
    assert_error(account.dash("GET", f"/sites/{bad}"), 404, 12016)
    assert_error(account.dash("PUT", f"/sites/{bad}", CREATE_SITE), 404, 12016)
    assert_error(account.dash("DELETE", f"/sites/{bad}"), 404, 12016)
    assert_error(account.dash("GET", f"/sites/{bad}/sippeers"), 404, 12016)


def test_other_accounts_site_is_not_found(account: Account, other_account: Account) -> None:
    theirs = create_site(other_account)
    assert_error(account.dash("GET", f"/sites/{theirs}"), 404, 12016)
    put = f"<Site><Name>pwned</Name>{ADDRESS}</Site>"
    assert_error(account.dash("PUT", f"/sites/{theirs}", put), 404, 12016)
    assert_error(account.dash("DELETE", f"/sites/{theirs}"), 404, 12016)
    assert_error(
        account.dash(
            "POST", f"/sites/{theirs}/sippeers", "<SipPeer><PeerName>x</PeerName></SipPeer>"
        ),
        404,
        12016,
    )
    r = other_account.dash("GET", f"/sites/{theirs}")
    assert r.status_code == 200 and doc(r).findtext("Site/Name") == "Raleigh"
    assert (
        doc(other_account.dash("GET", f"/sites/{theirs}/sippeers")).findall("SipPeers/SipPeer")
        == []
    )
    assert site_ids(account) == []


def test_auth(account: Account, other_account: Account) -> None:
    site_id = create_site(account)
    assert_error(account.dash("GET", f"/sites/{site_id}", auth=(account.username, "x")), 401)
    assert_error(account.dash("POST", "/sites", CREATE_SITE, auth=("nobody", "x")), 401)
    r = account.client.get(f"/api/accounts/{other_account.account_id}/sites", auth=account.auth)
    assert_error(r, 403)
    r = account.client.post(
        f"/api/accounts/{other_account.account_id}/sites", content=CREATE_SITE, auth=account.auth
    )
    assert_error(r, 403)
    assert site_ids(other_account) == []


def test_core_get_site(account: Account) -> None:
    site_id = create_site(account)

    async def get(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            row = await provisioning.get_site(conn, account.account_id, site_id)
            assert row == await provisioning.get_site(conn, account.account_id, int(site_id))
            try:
                await provisioning.get_site(conn, "someone-else", site_id)
            except NotFound:
                return row
            raise AssertionError("expected NotFound")

    row = account.harness.run(get)
    assert row.id == int(site_id) and row.name == "Raleigh"
    assert row.address["state_code"] == "DC"
