"""Drive PyPI bandwidth-numbers-sdk==1.2.0 (unmodified) against a live OpenBand.

Run by the SDK's own venv:  .venv-compat-numbers/bin/python numbers_py.py BASE ACCOUNT USER PASS
(BASE is the Dashboard endpoint, e.g. http://127.0.0.1:PORT/api). Prints ONE JSON object:
  {"sdk": ..., "steps": {name: {"ok": bool, "value": ..., "error": str|null, "http": [...]}}}
Every HTTP exchange a step makes is recorded (method, url, status, headers, body excerpt) by
wrapping requests.Session.request, so failures show what the server answered. The SDK itself is
not touched.

This SDK has no applications and no sippeer messaging-product API; those are covered by the Node
driver and tests/e2e.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

import requests
from bandwidth_numbers import Account, Client

BASE, ACCOUNT, USER, PASSWORD = sys.argv[1:5]
ORDER_TIMEOUT = 60.0

steps: dict[str, dict] = {}
_http: list[dict] = []
_orig_request = requests.Session.request


def _recording_request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        resp = _orig_request(self, method, url, *args, **kwargs)
    except Exception as exc:
        _http.append({"method": method, "url": url, "status": None, "body": repr(exc)})
        raise
    _http.append(
        {
            "method": method,
            "url": resp.url,
            "status": resp.status_code,
            "headers": {
                k: v for k, v in resp.headers.items() if k.lower() in ("location", "content-type")
            },
            "body": resp.text[:1500],
        }
    )
    return resp


requests.Session.request = _recording_request  # type: ignore[method-assign]


def run(name, fn, *needs):  # type: ignore[no-untyped-def]
    """Run one SDK step; record its value or its error and the HTTP it made."""
    missing = [n for n in needs if not steps.get(n, {}).get("ok")]
    if missing:
        steps[name] = {"ok": False, "value": None, "error": f"not run: needs {missing}", "http": []}
        return None
    del _http[:]
    try:
        value = fn()
        steps[name] = {"ok": True, "value": value, "error": None, "http": list(_http)}
        return value
    except Exception as exc:
        tb = traceback.format_exc().strip().splitlines()
        steps[name] = {
            "ok": False,
            "value": None,
            "error": f"{type(exc).__name__}: {exc} | {' / '.join(tb[-4:])}"[:3000],
            "http": list(_http),
        }
        return None


def s(v):  # type: ignore[no-untyped-def]
    return None if v is None else str(v)


client = Client(url=BASE, account_id=ACCOUNT, username=USER, password=PASSWORD)
account = Account(client=client)
state: dict = {}


def account_get():  # type: ignore[no-untyped-def]
    acct = account.get()
    return {"account_id": s(acct.account_id), "company_name": s(acct.company_name)}


def available_numbers():  # type: ignore[no-untyped-def]
    tns = account.available_numbers.list({"areaCode": "910", "quantity": 2})
    state["available"] = [str(t) for t in tns.items]
    return state["available"]


def available_numbers_detail():  # type: ignore[no-untyped-def]
    details = account.available_numbers.list(
        {"areaCode": "910", "quantity": 2, "enableTNDetail": "true"}
    )
    return [
        {
            "full_number": s(d.full_number),
            "city": s(d.city),
            "state": s(d.state),
            "rate_center": s(d.rate_center),
            "lata": s(d.lata),
        }
        for d in details.items
    ]


def site_create():  # type: ignore[no-untyped-def]
    site = account.sites.create(
        {
            "name": "py-site",
            "description": "bandwidth-numbers-sdk compat",
            "address": {
                "house_number": "900",
                "street_name": "Main Campus",
                "street_suffix": "Dr",
                "city": "Raleigh",
                "state_code": "NC",
                "zip": "27606",
                "address_type": "Service",
            },
        }
    )
    state["site_id"] = s(site.id)
    return {"id": state["site_id"]}


def site_get():  # type: ignore[no-untyped-def]
    site = account.sites.get(state["site_id"])
    state["site"] = site
    return {
        "id": s(site.id),
        "name": s(site.name),
        "description": s(site.description),
        "city": s(site.address.city),
        "state_code": s(site.address.state_code),
    }


def sites_list():  # type: ignore[no-untyped-def]
    return [{"id": s(x.id), "name": s(x.name)} for x in account.sites.list().items]


def sip_peers_list_empty():  # type: ignore[no-untyped-def]
    return [s(p.peer_id) for p in state["site"].sip_peers.list().items]


def sip_peer_create():  # type: ignore[no-untyped-def]
    peer = state["site"].sip_peers.create({"peer_name": "py-peer", "is_default_peer": "true"})
    state["peer_id"] = s(peer.id)
    return {"id": state["peer_id"]}


def sip_peer_get():  # type: ignore[no-untyped-def]
    peer = state["site"].sip_peers.get(state["peer_id"])
    state["peer"] = peer
    return {
        "id": s(peer.peer_id),
        "peer_name": s(peer.peer_name),
        "is_default_peer": s(peer.is_default_peer),
    }


def sip_peers_list():  # type: ignore[no-untyped-def]
    return [
        {"id": s(p.peer_id), "peer_name": s(p.peer_name)}
        for p in state["site"].sip_peers.list().items
    ]


def poll(order_id):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + ORDER_TIMEOUT
    seen = []
    while True:
        resp = account.orders.get(order_id)
        status = s(resp.order_status)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("COMPLETE", "PARTIAL", "FAILED") or time.monotonic() > deadline:
            return {
                "status": status,
                "statuses_seen": seen,
                "completed_numbers": [str(n) for n in resp.completed_numbers.items],
                "completed_quantity": s(resp.completed_quantity),
                "failed_quantity": s(resp.failed_quantity),
                "site_id": s(resp.order.site_id),
                "peer_id": s(resp.order.peer_id),
                "order_id": s(resp.order.order_id),
            }
        time.sleep(0.25)


def order_existing():  # type: ignore[no-untyped-def]
    tn = state["available"][0]
    order = account.orders.create(
        {
            "name": "py existing",
            "customer_order_id": "py-ex-1",
            "site_id": state["site_id"],
            "peer_id": state["peer_id"],
            "existing_telephone_number_order_type": {
                "telephone_number_list": {"telephone_number": [tn]}
            },
        }
    )
    state["existing_order_id"] = s(order.id)
    return {"id": s(order.id), "status": s(order.order_status), "tn": tn}


def order_existing_poll():  # type: ignore[no-untyped-def]
    return poll(state["existing_order_id"])


def order_area_code():  # type: ignore[no-untyped-def]
    order = account.orders.create(
        {
            "name": "py area code",
            "customer_order_id": "py-ac-1",
            "site_id": state["site_id"],
            "peer_id": state["peer_id"],
            "area_code_search_and_order_type": {"area_code": "910", "quantity": "1"},
        }
    )
    state["area_order_id"] = s(order.id)
    return {"id": s(order.id), "status": s(order.order_status)}


def order_area_code_poll():  # type: ignore[no-untyped-def]
    return poll(state["area_order_id"])


def orders_list():  # type: ignore[no-untyped-def]
    items = account.orders.list({"page": 1, "size": 100}).items
    return [{"id": s(o.order_id), "status": s(o.order_status)} for o in items]


def in_service_numbers():  # type: ignore[no-untyped-def]
    return [str(t) for t in account.in_service_numbers.list({"page": 1, "size": 500}).items]


def sip_peer_tns():  # type: ignore[no-untyped-def]
    return [s(t.full_number) for t in state["peer"].tns.list().items]


run("account_get", account_get)
run("available_numbers", available_numbers)
run("available_numbers_detail", available_numbers_detail)
run("site_create", site_create)
run("site_get", site_get, "site_create")
run("sites_list", sites_list, "site_create")
run("sip_peers_list_empty", sip_peers_list_empty, "site_get")
run("sip_peer_create", sip_peer_create, "site_get")
run("sip_peer_get", sip_peer_get, "sip_peer_create")
run("sip_peers_list", sip_peers_list, "sip_peer_create")
run("order_existing", order_existing, "available_numbers", "sip_peer_create")
run("order_existing_poll", order_existing_poll, "order_existing")
run("order_area_code", order_area_code, "sip_peer_create")
run("order_area_code_poll", order_area_code_poll, "order_area_code")
run("orders_list", orders_list)
run("in_service_numbers", in_service_numbers)
run("sip_peer_tns", sip_peer_tns, "sip_peer_get")

print(json.dumps({"sdk": "bandwidth-numbers-sdk==1.2.0", "steps": steps}, default=str))
