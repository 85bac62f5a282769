"""Dashboard helpers for tests: provision a site and location the way seed 004 does."""

from __future__ import annotations

import time

from lxml import etree

from tests.support.harness import Account
from tests.support.seed004 import CREATE_SIPPEER, CREATE_SITE

SITE_XML = CREATE_SITE

PEER_XML = CREATE_SIPPEER.replace(">true</IsDefaultPeer>", ">{default}</IsDefaultPeer>")


def xml(response) -> etree._Element:  # type: ignore[no-untyped-def]
    return etree.fromstring(response.content)


def last_segment(response) -> str:  # type: ignore[no-untyped-def]
    return response.headers["location"].rstrip("/").rsplit("/", 1)[-1]


def create_site(acct: Account) -> str:
    r = acct.dash("POST", "/sites", SITE_XML)
    assert r.status_code == 201, r.text
    return last_segment(r)


def create_peer(acct: Account, site_id: str, default: bool = True) -> str:
    r = acct.dash(
        "POST", f"/sites/{site_id}/sippeers", PEER_XML.format(default=str(default).lower())
    )
    assert r.status_code == 201, r.text
    return last_segment(r)


def provision(acct: Account) -> tuple[str, str]:
    site = create_site(acct)
    return site, create_peer(acct, site)


def wait_order(acct: Account, order_id: str, path: str = "/orders", timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        r = acct.dash("GET", f"{path}/{order_id}")
        assert r.status_code == 200, r.text
        status = xml(r).findtext("OrderStatus")
        if status not in ("RECEIVED", "PROCESSING") or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def order_xml(
    order_type: str, fields: str, site: str, peer: str | None = None, extra: str = ""
) -> str:
    peer_el = f"<PeerId>{peer}</PeerId>" if peer else ""
    return f"<Order><{order_type}>{fields}</{order_type}><SiteId>{site}</SiteId>{peer_el}{extra}</Order>"
