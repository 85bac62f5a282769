"""Issue 12, item 12: an order the inventory cannot fill at all (an area code with no
exchange) used to stay RECEIVED forever while its job failed and was parked. It ends FAILED (or
BACKORDERED when asked for) with the reason in its history."""

from __future__ import annotations

from tests.support.dashboard import order_xml, provision, wait_order, xml
from tests.support.harness import Account

NO_EXCHANGE = "<AreaCode>999</AreaCode><Quantity>2</Quantity>"  # valid syntax, no inventory


def _place(account: Account, backorder: bool) -> str:
    site, peer = provision(account)
    extra = "<BackOrderRequested>true</BackOrderRequested>" if backorder else ""
    body = order_xml("AreaCodeSearchAndOrderType", NO_EXCHANGE, site, peer, extra)
    r = account.dash("POST", "/orders", body)
    assert r.status_code == 201, r.text
    return str(xml(r).findtext("Order/id"))


def _history(account: Account, order_id: str) -> list[tuple[str | None, str | None]]:
    doc = xml(account.dash("GET", f"/orders/{order_id}/history"))
    return [(h.findtext("Status"), h.findtext("Note")) for h in doc.iterfind("OrderHistory")]


def test_an_unfillable_order_fails_with_its_reason(account: Account) -> None:
    order_id = _place(account, backorder=False)
    doc = xml(wait_order(account, order_id))
    assert doc.findtext("OrderStatus") == "FAILED"
    assert doc.findtext("CompletedQuantity") == "0" and doc.findtext("FailedQuantity") == "2"
    assert doc.find(".//ErrorList") is None  # reasons are in /history (docs/compat-notes.md)
    statuses, notes = zip(*_history(account, order_id), strict=True)
    assert statuses == ("RECEIVED", "FAILED")
    assert "999 is not present" in (notes[-1] or "") and "(4000)" in (notes[-1] or "")


def test_an_unfillable_backorder_waits_saying_why(account: Account) -> None:
    order_id = _place(account, backorder=True)
    doc = xml(wait_order(account, order_id))
    assert doc.findtext("OrderStatus") == "BACKORDERED"
    last = _history(account, order_id)[-1]
    assert last[0] == "BACKORDERED" and "(4000)" in (last[1] or "")
