"""PyPI bandwidth-numbers-sdk==1.2.0 against a live server (drivers/numbers_py.py).

The driver runs the whole flow once per module; each test asserts one step of it.
"""

from __future__ import annotations

import re

import pytest

from tests.compat.results import ctx, step
from tests.support.live import ACCOUNT_ID

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("compat")]

TN_910 = re.compile(r"^910\d{7}$")


def test_account_get(numbers_py: dict) -> None:
    v = step(numbers_py, "account_get")
    assert v["account_id"] == ACCOUNT_ID, ctx(numbers_py, "account_get")


def test_available_numbers_area_code(numbers_py: dict) -> None:
    v = step(numbers_py, "available_numbers")
    assert len(v) == 2, ctx(numbers_py, "available_numbers")
    assert all(TN_910.match(tn) for tn in v), ctx(numbers_py, "available_numbers")
    assert len(set(v)) == 2


def test_available_numbers_tn_detail(numbers_py: dict) -> None:
    v = step(numbers_py, "available_numbers_detail")
    assert len(v) == 2, ctx(numbers_py, "available_numbers_detail")
    for d in v:
        assert d["full_number"] and TN_910.match(d["full_number"]), ctx(
            numbers_py, "available_numbers_detail"
        )
        assert d["state"] == "NC", ctx(numbers_py, "available_numbers_detail")
        assert d["rate_center"], ctx(numbers_py, "available_numbers_detail")
        assert d["city"], ctx(numbers_py, "available_numbers_detail")


def test_site_create_get_list(numbers_py: dict) -> None:
    created = step(numbers_py, "site_create")
    assert created["id"], "site id must come from the Location header\n" + ctx(
        numbers_py, "site_create"
    )
    got = step(numbers_py, "site_get")
    assert got["id"] == created["id"], ctx(numbers_py, "site_get")
    assert got["name"] == "py-site", ctx(numbers_py, "site_get")
    assert got["description"] == "bandwidth-numbers-sdk compat", ctx(numbers_py, "site_get")
    assert got["city"] == "Raleigh" and got["state_code"] == "NC", ctx(numbers_py, "site_get")
    listed = step(numbers_py, "sites_list")
    assert {"id": created["id"], "name": "py-site"} in listed, ctx(numbers_py, "sites_list")


def test_sip_peers_list_empty_site(numbers_py: dict) -> None:
    assert step(numbers_py, "sip_peers_list_empty") == [], ctx(numbers_py, "sip_peers_list_empty")


def test_sip_peer_create_get_list(numbers_py: dict) -> None:
    created = step(numbers_py, "sip_peer_create")
    assert created["id"], "peer id must come from the Location header\n" + ctx(
        numbers_py, "sip_peer_create"
    )
    got = step(numbers_py, "sip_peer_get")
    assert got["id"] == created["id"], ctx(numbers_py, "sip_peer_get")
    assert got["peer_name"] == "py-peer", ctx(numbers_py, "sip_peer_get")
    assert got["is_default_peer"] == "true", ctx(numbers_py, "sip_peer_get")
    listed = step(numbers_py, "sip_peers_list")
    assert {"id": created["id"], "peer_name": "py-peer"} in listed, ctx(
        numbers_py, "sip_peers_list"
    )


def test_order_existing_number(numbers_py: dict) -> None:
    created = step(numbers_py, "order_existing")
    assert created["id"], "OrderResponse/Order/id missing\n" + ctx(numbers_py, "order_existing")
    assert created["status"] == "RECEIVED", ctx(numbers_py, "order_existing")
    done = step(numbers_py, "order_existing_poll")
    assert done["status"] == "COMPLETE", ctx(numbers_py, "order_existing_poll")
    assert done["completed_numbers"] == [created["tn"]], ctx(numbers_py, "order_existing_poll")
    assert done["completed_quantity"] == "1", ctx(numbers_py, "order_existing_poll")
    assert done["failed_quantity"] in ("0", None), ctx(numbers_py, "order_existing_poll")
    site = step(numbers_py, "site_create")["id"]
    peer = step(numbers_py, "sip_peer_create")["id"]
    assert (done["site_id"], done["peer_id"]) == (site, peer), ctx(
        numbers_py, "order_existing_poll"
    )


def test_order_area_code(numbers_py: dict) -> None:
    created = step(numbers_py, "order_area_code")
    assert created["id"], "OrderResponse/Order/id missing\n" + ctx(numbers_py, "order_area_code")
    assert created["status"] == "RECEIVED", ctx(numbers_py, "order_area_code")
    done = step(numbers_py, "order_area_code_poll")
    assert done["status"] == "COMPLETE", ctx(numbers_py, "order_area_code_poll")
    assert len(done["completed_numbers"]) == 1, ctx(numbers_py, "order_area_code_poll")
    assert TN_910.match(done["completed_numbers"][0]), ctx(numbers_py, "order_area_code_poll")
    assert done["order_id"] == created["id"], ctx(numbers_py, "order_area_code_poll")


def test_orders_list(numbers_py: dict) -> None:
    listed = step(numbers_py, "orders_list")
    ids = {o["id"] for o in listed}
    for name in ("order_existing", "order_area_code"):
        assert step(numbers_py, name)["id"] in ids, ctx(numbers_py, "orders_list")
    assert all(o["status"] for o in listed), ctx(numbers_py, "orders_list")


def _ordered(result: dict) -> list[str]:
    return [
        *step(result, "order_existing_poll")["completed_numbers"],
        *step(result, "order_area_code_poll")["completed_numbers"],
    ]


def test_ordered_numbers_in_service(numbers_py: dict) -> None:
    in_service = step(numbers_py, "in_service_numbers")
    for tn in _ordered(numbers_py):
        assert tn in in_service, ctx(numbers_py, "in_service_numbers")


def test_ordered_numbers_on_the_sip_peer(numbers_py: dict) -> None:
    tns = step(numbers_py, "sip_peer_tns")
    assert sorted(tns) == sorted(_ordered(numbers_py)), ctx(numbers_py, "sip_peer_tns")
