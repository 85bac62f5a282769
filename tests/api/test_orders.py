"""Number orders, in-service numbers, a location's numbers, /tns and disconnects."""

from __future__ import annotations

import pytest

from tests.support.dashboard import last_segment, order_xml, provision, wait_order, xml
from tests.support.harness import Account


def _order(acct: Account, body: str) -> str:
    r = acct.dash("POST", "/orders", body)
    assert r.status_code == 201, r.text
    doc = xml(r)
    assert doc.findtext("OrderStatus") == "RECEIVED"
    order_id = doc.findtext("Order/id")
    assert order_id and last_segment(r) == order_id
    assert r.headers["location"].endswith(f"/api/accounts/{acct.account_id}/orders/{order_id}")
    return order_id


def test_seed_area_code_order_lands_on_the_location(account: Account) -> None:
    site, peer = provision(account)
    order_id = _order(
        account,
        order_xml(
            "AreaCodeSearchAndOrderType",
            "<AreaCode>910</AreaCode><Quantity>1</Quantity>",
            site,
            peer,
        ),
    )
    doc = xml(wait_order(account, order_id))
    assert doc.findtext("OrderStatus") == "COMPLETE"
    assert doc.findtext("CompletedQuantity") == "1"
    assert doc.findtext("FailedQuantity") == "0"
    tn = doc.findtext("CompletedNumbers/TelephoneNumber/FullNumber")
    assert tn and len(tn) == 10 and tn.startswith("910")
    assert doc.findtext("Order/PeerId") == peer and doc.findtext("Order/SiteId") == site
    assert doc.findtext("Summary") == "1 number ordered in (910)"
    assert doc.find(".//ErrorList") is None and doc.find(".//Error") is None

    inservice = xml(account.dash("GET", "/inserviceNumbers"))
    assert tn in [t.text for t in inservice.iterfind("TelephoneNumbers/TelephoneNumber")]
    peer_tns = xml(account.dash("GET", f"/sites/{site}/sippeers/{peer}/tns"))
    assert tn in [
        t.text
        for t in peer_tns.iterfind("SipPeerTelephoneNumbers/SipPeerTelephoneNumber/FullNumber")
    ]
    site_tns = xml(account.dash("GET", f"/sites/{site}/inserviceNumbers"))
    assert site_tns.findtext("TotalCount") == "1"

    detail = account.client.get(f"/api/tns/{tn}", auth=account.auth)
    assert detail.status_code == 200
    d = xml(detail)
    assert d.findtext("Status") == "Inservice" and d.findtext("OrderId") == order_id
    assert d.findtext("SiteId") == site and d.findtext("AccountId") == account.account_id
    rc = xml(account.client.get(f"/api/tns/{tn}/ratecenter", auth=account.auth))
    assert rc.findtext("TelephoneNumberDetails/State") == "NC"
    hist = xml(account.dash("GET", f"/orders/{order_id}/history"))
    assert [h.findtext("Status") for h in hist.iterfind("OrderHistory")] == ["RECEIVED", "COMPLETE"]
    tns = xml(account.dash("GET", f"/orders/{order_id}/tns"))
    assert tns.findtext("Count") == "1" and tns.findtext("TelephoneNumber") == tn


def test_default_peer_used_when_peer_id_absent(account: Account) -> None:
    site, peer = provision(account)
    order_id = _order(
        account,
        order_xml("StateSearchAndOrderType", "<State>NC</State><Quantity>3</Quantity>", site),
    )
    doc = xml(wait_order(account, order_id))
    assert doc.findtext("OrderStatus") == "COMPLETE"
    peer_tns = xml(account.dash("GET", f"/sites/{site}/sippeers/{peer}/tns"))
    assert len(peer_tns.findall("SipPeerTelephoneNumbers/SipPeerTelephoneNumber")) == 3


@pytest.mark.parametrize(
    ("order_type", "fields"),
    [
        (
            "RateCenterSearchAndOrderType",
            "<RateCenter>RALEIGH</RateCenter><State>NC</State><Quantity>2</Quantity>",
        ),
        ("NPANXXSearchAndOrderType", "<NpaNxx>919{nxx}</NpaNxx><Quantity>2</Quantity>"),
        ("CitySearchAndOrderType", "<City>RALEIGH</City><State>NC</State><Quantity>2</Quantity>"),
        ("ZIPSearchAndOrderType", "<Zip>27606</Zip><Quantity>2</Quantity>"),
        (
            "TollFreeWildCharSearchAndOrderType",
            "<TollFreeWildCardPattern>8**</TollFreeWildCardPattern><Quantity>2</Quantity>",
        ),
        (
            "CombinedSearchAndOrderType",
            "<AreaCode>919</AreaCode><State>NC</State><Quantity>2</Quantity>",
        ),
    ],
)
def test_search_and_order_types(account: Account, order_type: str, fields: str) -> None:
    site, _ = provision(account)
    if "{nxx}" in fields:
        search = xml(
            account.dash("GET", "/availableNumbers", params={"areaCode": "919", "quantity": 1})
        )
        fields = fields.format(nxx=search.findtext("TelephoneNumberList/TelephoneNumber")[3:6])
    order_id = _order(account, order_xml(order_type, fields, site))
    doc = xml(wait_order(account, order_id))
    assert doc.findtext("OrderStatus") == "COMPLETE", doc
    assert len(doc.findall("CompletedNumbers/TelephoneNumber")) == 2
    assert doc.find(f"Order/{order_type}") is not None  # echoed as given


def test_existing_number_order_and_double_ownership(
    account: Account, other_account: Account
) -> None:
    site, _ = provision(account)
    search = xml(
        account.dash("GET", "/availableNumbers", params={"areaCode": "704", "quantity": 2})
    )
    tns = [t.text for t in search.iterfind("TelephoneNumberList/TelephoneNumber")]
    assert len(tns) == 2
    lst = "".join(f"<TelephoneNumber>{t}</TelephoneNumber>" for t in tns)
    body = f"<Order><ExistingTelephoneNumberOrderType><TelephoneNumberList>{lst}</TelephoneNumberList></ExistingTelephoneNumberOrderType><SiteId>{site}</SiteId></Order>"
    doc = xml(wait_order(account, _order(account, body)))
    assert doc.findtext("OrderStatus") == "COMPLETE"
    assert sorted(
        t.text for t in doc.iterfind("CompletedNumbers/TelephoneNumber/FullNumber")
    ) == sorted(tns)

    # The same numbers are no longer available to anyone, including another account.
    other_site, _ = provision(other_account)
    body2 = body.replace(f"<SiteId>{site}</SiteId>", f"<SiteId>{other_site}</SiteId>")
    r = other_account.dash("POST", "/orders", body2)
    doc2 = xml(wait_order(other_account, xml(r).findtext("Order/id")))
    assert doc2.findtext("OrderStatus") == "FAILED"
    assert doc2.findtext("FailedQuantity") == "2"
    assert doc2.find(".//Error") is None  # reasons are in /history, not in a 200 body
    again = xml(
        account.dash("GET", "/availableNumbers", params={"areaCode": "704", "quantity": 50})
    )
    assert not set(tns) & {t.text for t in again.iterfind("TelephoneNumberList/TelephoneNumber")}


def test_partial_and_not_partial(account: Account) -> None:
    site, _ = provision(account)
    search = xml(
        account.dash("GET", "/availableNumbers", params={"areaCode": "305", "quantity": 1})
    )
    good = search.findtext("TelephoneNumberList/TelephoneNumber")
    bad = "9105550100"  # 555-01xx: reserved, never in the inventory
    lst = f"<TelephoneNumber>{good}</TelephoneNumber><TelephoneNumber>{bad}</TelephoneNumber>"
    base = "<Order><ExistingTelephoneNumberOrderType><TelephoneNumberList>{l}</TelephoneNumberList></ExistingTelephoneNumberOrderType><SiteId>{s}</SiteId><PartialAllowed>{p}</PartialAllowed></Order>"
    doc = xml(wait_order(account, _order(account, base.format(l=lst, s=site, p="false"))))
    assert doc.findtext("OrderStatus") == "FAILED" and doc.findtext("CompletedQuantity") == "0"
    doc = xml(wait_order(account, _order(account, base.format(l=lst, s=site, p="true"))))
    assert doc.findtext("OrderStatus") == "PARTIAL"
    assert doc.findtext("CompletedQuantity") == "1" and doc.findtext("FailedQuantity") == "1"
    assert doc.findtext("FailedNumbers/FullNumber") == bad


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            "<Order><AreaCodeSearchAndOrderType><AreaCode>910</AreaCode><Quantity>1</Quantity></AreaCodeSearchAndOrderType><SiteId>999999999</SiteId></Order>",
            "5016",
        ),
        (
            "<Order><AreaCodeSearchAndOrderType><AreaCode>910</AreaCode><Quantity>1</Quantity></AreaCodeSearchAndOrderType></Order>",
            "5016",
        ),
        (
            "<Order><AreaCodeSearchAndOrderType><Quantity>1</Quantity></AreaCodeSearchAndOrderType><SiteId>{site}</SiteId></Order>",
            None,
        ),
        (
            "<Order><AreaCodeSearchAndOrderType><AreaCode>910</AreaCode><Quantity>abc</Quantity></AreaCodeSearchAndOrderType><SiteId>{site}</SiteId></Order>",
            None,
        ),
        (
            "<Order><AreaCodeSearchAndOrderType><AreaCode>910</AreaCode><Quantity>5001</Quantity></AreaCodeSearchAndOrderType><SiteId>{site}</SiteId></Order>",
            None,
        ),
        ("<Order><SiteId>{site}</SiteId></Order>", None),
        (
            "<Order><AreaCodeSearchAndOrderType><AreaCode>910</AreaCode></AreaCodeSearchAndOrderType><PartialAllowed>maybe</PartialAllowed><SiteId>{site}</SiteId></Order>",
            None,
        ),
        (
            "<Order><ExistingTelephoneNumberOrderType><TelephoneNumberList><TelephoneNumber>12</TelephoneNumber></TelephoneNumberList></ExistingTelephoneNumberOrderType><SiteId>{site}</SiteId></Order>",
            "5070",
        ),
        (
            "<Order><AreaCodeSearchAndOrderType><AreaCode>910</AreaCode><Quantity>1</Quantity></AreaCodeSearchAndOrderType><SiteId>{site}</SiteId><PeerId>424242</PeerId></Order>",
            None,
        ),
        ("<Order><AreaCodeSearchAndOrderType><AreaCode>910", None),
        (
            '<?xml version="1.0"?><!DOCTYPE Order [<!ENTITY x SYSTEM "file:///etc/passwd">]><Order><Name>&x;</Name></Order>',
            None,
        ),
    ],
)
def test_bad_orders_are_refused_and_write_nothing(
    account: Account, body: str, code: str | None
) -> None:
    site, _ = provision(account)
    r = account.dash("POST", "/orders", body.replace("{site}", site))
    assert r.status_code == 400, r.text
    doc = xml(r)
    assert doc.tag == "OrderResponse"
    assert doc.findtext("ErrorList/Error/Description")
    if code:
        assert doc.findtext("ErrorList/Error/Code") == code
    listing = xml(account.dash("GET", "/orders"))
    assert listing.findtext("ListOrderIdUserIdDate/TotalCount") == "0"


def test_other_accounts_orders_and_numbers_are_invisible(
    account: Account, other_account: Account
) -> None:
    site, _ = provision(account)
    order_id = _order(
        account,
        order_xml(
            "AreaCodeSearchAndOrderType", "<AreaCode>512</AreaCode><Quantity>1</Quantity>", site
        ),
    )
    tn = xml(wait_order(account, order_id)).findtext("CompletedNumbers/TelephoneNumber/FullNumber")
    assert other_account.dash("GET", f"/orders/{order_id}").status_code == 404
    assert other_account.client.get(f"/api/tns/{tn}", auth=other_account.auth).status_code == 404
    assert other_account.dash("GET", "/inserviceNumbers").status_code == 204
    # Ordering onto another account's site is an invalid SiteId.
    r = other_account.dash(
        "POST",
        "/orders",
        order_xml(
            "AreaCodeSearchAndOrderType", "<AreaCode>512</AreaCode><Quantity>1</Quantity>", site
        ),
    )
    assert r.status_code == 400 and xml(r).findtext("ErrorList/Error/Code") == "5016"
    # Disconnecting another account's number fails and leaves it in service.
    r = other_account.dash(
        "POST",
        "/disconnects",
        f"<DisconnectTelephoneNumberOrder><DisconnectTelephoneNumberOrderType><TelephoneNumberList><TelephoneNumber>{tn}</TelephoneNumber></TelephoneNumberList></DisconnectTelephoneNumberOrderType></DisconnectTelephoneNumberOrder>",
    )
    assert r.status_code == 201
    disc = xml(wait_order(other_account, last_segment(r), "/disconnects"))
    assert disc.findtext("OrderStatus") == "FAILED"
    assert account.client.get(f"/api/tns/{tn}", auth=account.auth).status_code == 200


def test_orders_list_paging(account: Account) -> None:
    site, _ = provision(account)
    ids = [
        _order(
            account,
            order_xml(
                "AreaCodeSearchAndOrderType", "<AreaCode>415</AreaCode><Quantity>1</Quantity>", site
            ),
        )
        for _ in range(3)
    ]
    for i in ids:
        wait_order(account, i)
    page1 = xml(account.dash("GET", "/orders", params={"page": 1, "size": 2}))
    assert page1.findtext("ListOrderIdUserIdDate/TotalCount") == "3"
    got = [e.text for e in page1.iterfind("ListOrderIdUserIdDate/OrderIdUserIdDate/orderId")]
    assert got == ids[:2]
    nxt = page1.findtext("ListOrderIdUserIdDate/Links/next")
    assert nxt and f"page={ids[2]}" in nxt
    page2 = xml(account.dash("GET", "/orders", params={"page": ids[2], "size": 2}))
    assert [
        e.text for e in page2.iterfind("ListOrderIdUserIdDate/OrderIdUserIdDate/orderId")
    ] == ids[2:]
    assert page2.find("ListOrderIdUserIdDate/Links/next") is None


def test_disconnect_returns_numbers_to_inventory(account: Account) -> None:
    site, _ = provision(account)
    order_id = _order(
        account,
        order_xml(
            "AreaCodeSearchAndOrderType", "<AreaCode>303</AreaCode><Quantity>2</Quantity>", site
        ),
    )
    tns = [
        t.text
        for t in xml(wait_order(account, order_id)).iterfind(
            "CompletedNumbers/TelephoneNumber/FullNumber"
        )
    ]
    body = (
        "<DisconnectTelephoneNumberOrder><CustomerOrderId>My OrderId</CustomerOrderId>"
        "<DisconnectTelephoneNumberOrderType><TelephoneNumberList>"
        f"<TelephoneNumber>{tns[0]}</TelephoneNumber>"
        "</TelephoneNumberList><Protected>UNCHANGED</Protected></DisconnectTelephoneNumberOrderType>"
        "</DisconnectTelephoneNumberOrder>"
    )
    r = account.dash("POST", "/disconnects", body)
    assert r.status_code == 201, r.text
    created = xml(r)
    assert created.findtext("OrderStatus") == "RECEIVED"
    disc_id = created.findtext("orderRequest/id")
    assert disc_id == last_segment(r)
    done = xml(wait_order(account, disc_id, "/disconnects"))
    assert done.findtext("OrderStatus") == "COMPLETE"
    assert done.findtext("DisconnectedTelephoneNumberList/TelephoneNumber") == tns[0]
    inservice = xml(account.dash("GET", "/inserviceNumbers"))
    assert [t.text for t in inservice.iterfind("TelephoneNumbers/TelephoneNumber")] == [tns[1]]
    assert account.client.get(f"/api/tns/{tns[0]}", auth=account.auth).status_code == 404
    listing = xml(account.dash("GET", "/disconnects"))
    assert listing.findtext("ListOrderIdUserIdDate/OrderIdUserIdDate/OrderId") == disc_id
    # The number is back in the inventory: it can be ordered again by number.
    again = order_xml(
        "ExistingTelephoneNumberOrderType",
        f"<TelephoneNumberList><TelephoneNumber>{tns[0]}</TelephoneNumber></TelephoneNumberList>",
        site,
    ).replace(
        "<ExistingTelephoneNumberOrderType><TelephoneNumberList>",
        "<ExistingTelephoneNumberOrderType><TelephoneNumberList>",
    )
    assert xml(wait_order(account, _order(account, again))).findtext("OrderStatus") == "COMPLETE"


def test_inservice_filters_and_paging(account: Account) -> None:
    site, _ = provision(account)
    wait_order(
        account,
        _order(
            account,
            order_xml(
                "AreaCodeSearchAndOrderType", "<AreaCode>206</AreaCode><Quantity>3</Quantity>", site
            ),
        ),
    )
    wait_order(
        account,
        _order(
            account,
            order_xml(
                "AreaCodeSearchAndOrderType", "<AreaCode>617</AreaCode><Quantity>2</Quantity>", site
            ),
        ),
    )
    r = xml(account.dash("GET", "/inserviceNumbers", params={"areacode": "617"}))
    assert r.findtext("TotalCount") == "2"
    r = xml(account.dash("GET", "/inserviceNumbers", params={"state": "WA"}))
    assert r.findtext("TotalCount") == "3"
    p = xml(account.dash("GET", "/inserviceNumbers", params={"page": 2, "size": 2}))
    assert p.findtext("TotalCount") == "5" and p.findtext("TelephoneNumbers/Count") == "2"
    totals = xml(account.dash("GET", "/inserviceNumbers/totals"))
    assert totals.findtext("Count") == "5"
    assert account.dash("GET", "/inserviceNumbers", params={"areacode": "61"}).status_code == 400


def test_get_order_carries_its_id(account: Account) -> None:
    """@bandwidth/numbers builds /orders/{order.id}/tns from the GET body, so the id must be there."""
    site, _ = provision(account)
    order_id = _order(
        account,
        order_xml(
            "AreaCodeSearchAndOrderType", "<AreaCode>910</AreaCode><Quantity>1</Quantity>", site
        ),
    )
    assert xml(wait_order(account, order_id)).findtext("Order/id") == order_id
