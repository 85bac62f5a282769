"""Number orders and disconnects: validation at the door, fulfilment in a background job.

An order is accepted (RECEIVED) in one transaction with the job that will fill it; the job draws
numbers from the inventory, assigns them to the order's site and location (the site's default
location when PeerId is absent) and settles the order COMPLETE, PARTIAL, FAILED or BACKORDERED.
A disconnect returns numbers to the inventory the same way.

Error codes follow Bandwidth's where its documentation gives them (5016 invalid SiteId, 5070
invalid number, 5076 number not available); the others are OpenBand's own in the same range.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Concatenate, ParamSpec

from sqlalchemy.ext.asyncio import AsyncConnection

from openband import ids
from openband.clock import now
from openband.core import phone
from openband.core import provisioning as prov
from openband.core.inventory import Inventory, NumberInfo, Search
from openband.errors import InvalidInput, NotFound
from openband.store import jobs as jobs_repo
from openband.store import numbers as numbers_repo
from openband.store import orders as repo
from openband.store.orders import OrderFilter
from openband.store.orders import OrderRow as OrderRow  # what the families render

if TYPE_CHECKING:
    from openband.store.db import Database

log = logging.getLogger(__name__)
P = ParamSpec("P")
_ANY = OrderFilter()

NEW_NUMBER = "new_number"
DISCONNECT = "disconnect"
JOB_ORDER = "order"
JOB_DISCONNECT = "disconnect"
MAX_QUANTITY = 5000
BACKORDER_RETRY = timedelta(seconds=60)

# Order type element -> the fields it must carry (Bandwidth's SearchAndOrder types).
ORDER_TYPES: dict[str, tuple[str, ...]] = {
    "AreaCodeSearchAndOrderType": ("AreaCode",),
    "RateCenterSearchAndOrderType": ("RateCenter", "State"),
    "NPANXXSearchAndOrderType": ("NpaNxx",),
    "TollFreeVanitySearchAndOrderType": ("TollFreeVanity",),
    "TollFreeWildCharSearchAndOrderType": ("TollFreeWildCardPattern",),
    "StateSearchAndOrderType": ("State",),
    "CitySearchAndOrderType": ("State", "City"),
    "ZIPSearchAndOrderType": ("Zip",),
    "LATASearchAndOrderType": ("Lata",),
    "CombinedSearchAndOrderType": (),
}
EXISTING = "ExistingTelephoneNumberOrderType"

# Order fields -> Search attributes.
SEARCH_FIELDS = {
    "AreaCode": "area_code",
    "RateCenter": "rate_center",
    "State": "state",
    "City": "city",
    "Zip": "zip",
    "Lata": "lata",
    "NpaNxx": "npa_nxx",
    "NpaNxxX": "npa_nxxx",
    "TollFreeVanity": "toll_free_vanity",
    "TollFreeWildCardPattern": "toll_free_wildcard",
    "LocalVanity": "local_vanity",
    "EndsIn": "ends_in",
}

E_INVALID_SITE = 5016
E_INVALID_PEER = 5017
E_INVALID_TN = 5070
E_NOT_AVAILABLE = 5076
E_ORDER_TYPE = 5001
E_QUANTITY = 5002
E_MISSING_FIELD = 5003
E_NOT_ON_ACCOUNT = 5077


@dataclass
class OrderRequest:
    """A new-number order as the wire gave it (strings), before validation."""

    order_type: str | None
    fields: dict[str, str] = field(default_factory=dict)
    tns: list[str] = field(default_factory=list)
    reservation_ids: list[str] = field(default_factory=list)
    customer_order_id: str | None = None
    name: str | None = None
    site_id: str | None = None
    peer_id: str | None = None
    partial_allowed: bool = True
    back_order_requested: bool = False
    extra: dict[str, object] = field(default_factory=dict)  # echoed elements (TnAttributes...)


def _int_id(value: str | None, code: int, what: str) -> int:
    if value is None or not phone.ascii_digits(str(value).strip()):
        raise InvalidInput(f"The {what} submitted is invalid.", code=code, field=what)
    return int(str(value).strip())


def build_search(order_type: str, fields: dict[str, str]) -> Search:
    kwargs: dict[str, object] = {}
    for name, attr in SEARCH_FIELDS.items():
        if fields.get(name) not in (None, ""):
            kwargs[attr] = fields[name]
    if "ends_in" in kwargs:
        kwargs["ends_in"] = str(kwargs["ends_in"]).lower() == "true"
    quantity = fields.get("Quantity", "1")
    if not phone.ascii_digits(str(quantity).strip()) or not 1 <= int(quantity) <= MAX_QUANTITY:
        raise InvalidInput(
            f"Quantity must be between 1 and {MAX_QUANTITY}.", code=E_QUANTITY, field="Quantity"
        )
    search = Search(quantity=int(quantity), **kwargs)  # type: ignore[arg-type]
    search.validate()
    return search


async def create_order(
    conn: AsyncConnection, account_id: str, user: str, req: OrderRequest
) -> repo.OrderRow:
    site_id = _int_id(req.site_id, E_INVALID_SITE, "SiteId")
    try:
        site = await prov.get_site(conn, account_id, site_id)
    except NotFound as exc:
        raise InvalidInput("The SiteId submitted is invalid.", code=E_INVALID_SITE) from exc
    if req.peer_id not in (None, ""):
        peer_id = _int_id(req.peer_id, E_INVALID_PEER, "PeerId")
        try:
            peer = await prov.get_peer(conn, account_id, site.id, peer_id)
        except NotFound as exc:
            raise InvalidInput(
                f"The PeerId {peer_id} is not a location of site {site.id}.", code=E_INVALID_PEER
            ) from exc
    else:
        peer = await prov.default_peer(conn, account_id, site.id)
        if peer is None:
            raise InvalidInput(
                f"Site {site.id} has no default location (sippeer); give a PeerId.",
                code=E_INVALID_PEER,
            )

    stored: dict[str, object] = {
        "order_type": req.order_type,
        "fields": req.fields,
        "partial_allowed": req.partial_allowed,
        "back_order_requested": req.back_order_requested,
        "resolved_peer_id": peer.id,
        "extra": req.extra,
    }
    if req.order_type == EXISTING:
        if not req.tns and not req.reservation_ids:
            raise InvalidInput(
                "ExistingTelephoneNumberOrderType needs a TelephoneNumberList.",
                code=E_MISSING_FIELD,
            )
        if len(req.tns) > MAX_QUANTITY:
            raise InvalidInput(
                f"At most {MAX_QUANTITY} numbers per order.", code=E_QUANTITY, field="Quantity"
            )
        tns = _e164_numbers(req.tns)
        if req.reservation_ids:
            raise InvalidInput(
                "Reservations are not supported; order the numbers by TelephoneNumberList.",
                code=E_ORDER_TYPE,
            )
        stored["tns"] = list(dict.fromkeys(tns))
        stored["quantity"] = len(stored["tns"])  # type: ignore[arg-type]
    elif req.order_type in ORDER_TYPES:
        missing = [f for f in ORDER_TYPES[req.order_type] if not req.fields.get(f)]
        if missing:
            raise InvalidInput(
                f"{req.order_type} requires {', '.join(missing)}.",
                code=E_MISSING_FIELD,
                field=missing[0],
            )
        search = build_search(req.order_type, req.fields)
        stored["quantity"] = search.quantity
    else:
        raise InvalidInput(
            "The order must contain one order type, e.g. AreaCodeSearchAndOrderType.",
            code=E_ORDER_TYPE,
        )

    return await _receive(
        conn,
        account_id,
        NEW_NUMBER,
        user,
        customer_order_id=req.customer_order_id,
        name=req.name,
        site_id=site.id,
        peer_id=int(req.peer_id) if req.peer_id not in (None, "") else None,
        request=stored,
    )


def _e164_numbers(tns: list[str]) -> list[str]:
    out = []
    for tn in tns:
        try:
            out.append(phone.tn_to_e164(tn))
        except InvalidInput as exc:
            raise InvalidInput(f"Telephone number {tn} is invalid.", code=E_INVALID_TN) from exc
    return out


async def _receive(
    conn: AsyncConnection, account_id: str, order_type: str, user: str, **values: object
) -> repo.OrderRow:
    """Accept an order (RECEIVED) with the job that will carry it out, in one transaction."""
    order_id = ids.order_id()
    await repo.insert(
        conn,
        id=order_id,
        account_id=account_id,
        order_type=order_type,
        status="RECEIVED",
        created_by_user=user,
        completed_quantity=0,
        failed_quantity=0,
        **values,
    )
    what = "Order" if order_type == NEW_NUMBER else "Disconnect order"
    await repo.add_history(conn, order_id, f"{what} received", "RECEIVED", author=user)
    await jobs_repo.enqueue(
        conn, JOB_ORDER if order_type == NEW_NUMBER else JOB_DISCONNECT, order_id
    )
    row = await repo.get(conn, account_id, order_id, order_type)
    assert row is not None
    return row


def _row_for(account_id: str, site_id: int, peer_id: int, order_id: str, n: NumberInfo) -> dict:
    return {
        "tn": n.tn,
        "account_id": account_id,
        "site_id": site_id,
        "peer_id": peer_id,
        "order_id": order_id,
        "npa": n.npa,
        "nxx": n.nxx,
        "city": n.city,
        "state": n.state,
        "rate_center": n.rate_center,
        "lata": n.lata,
    }


async def process_order(
    conn: AsyncConnection, inventory: Inventory, order_id: str, dialect: str
) -> None:
    """Fill a RECEIVED (or BACKORDERED) order. Runs inside the job's transaction."""
    order = await repo.get_any(conn, order_id, lock=dialect == "postgresql")
    if order is None or order.status not in ("RECEIVED", "BACKORDERED"):
        return
    req = order.request
    peer_id = int(req["resolved_peer_id"])
    site_id = int(order.site_id or 0)
    partial = bool(req.get("partial_allowed", True))
    quantity = int(req.get("quantity", 1))
    already = [t.tn for t in await repo.tns(conn, order_id) if t.status == "completed"]
    failed: list[repo.OrderTn] = []
    got: list[str] = []
    refused: InvalidInput | None = None

    if req.get("order_type") == EXISTING:
        wanted = [tn for tn in req["tns"] if tn not in already]
        owners = await numbers_repo.owned_among(conn, wanted)
        candidates: list[NumberInfo] = []
        for tn in wanted:
            info = await inventory.lookup(conn, tn)
            if info is None or tn in owners:
                desc = (
                    "Telephone number is already in service on this account."
                    if owners.get(tn) == order.account_id
                    else "Telephone number is not available."
                )
                failed.append(repo.OrderTn(tn, "failed", E_NOT_AVAILABLE, desc))
            else:
                candidates.append(info)
        if failed and not partial:
            failed += [
                repo.OrderTn(c.tn, "failed", E_NOT_AVAILABLE, "Order not partially fillable.")
                for c in candidates
            ]
            candidates = []
        rows = [_row_for(order.account_id, site_id, peer_id, order_id, c) for c in candidates]
        got = await numbers_repo.insert_new(conn, rows, dialect)
        lost = {c.tn for c in candidates} - set(got)
        failed += [
            repo.OrderTn(tn, "failed", E_NOT_AVAILABLE, "Telephone number is not available.")
            for tn in sorted(lost)
        ]
    else:
        search = build_search(req["order_type"], req.get("fields", {}))
        need = quantity - len(already)
        # Another node may take some of the numbers we found; search again for the shortfall.
        for _ in range(3):
            if len(got) >= need:
                break
            try:
                found = await inventory.search(
                    conn, dataclasses.replace(search, quantity=need - len(got))
                )
            except InvalidInput as exc:
                # The inventory cannot fill it at all (e.g. an area code with no exchange):
                # the order ends (or waits, when backordered) saying why, not a failing job.
                refused = exc
                break
            if not found:
                break
            rows = [_row_for(order.account_id, site_id, peer_id, order_id, n) for n in found]
            got += await numbers_repo.insert_new(conn, rows, dialect)
        if len(got) < need and not partial and not req.get("back_order_requested"):
            await numbers_repo.release(conn, order.account_id, got)
            got = []

    completed = len(already) + len(got)
    await repo.add_tns(conn, order_id, [repo.OrderTn(tn, "completed", None, None) for tn in got])
    await repo.add_tns(conn, order_id, failed)
    backorder = bool(req.get("back_order_requested")) and completed < quantity
    if completed >= quantity and completed > 0:
        status, note = "COMPLETE", "Order completed"
    elif backorder:
        status, note = "BACKORDERED", "Order backordered - awaiting additional numbers"
        if refused is not None:
            note += f": {refused.description} ({refused.code})"
        await jobs_repo.enqueue(conn, JOB_ORDER, order_id, run_at=now() + BACKORDER_RETRY)
    elif completed > 0:
        status, note = "PARTIAL", f"Order partially completed: {completed} of {quantity} numbers"
    elif refused is not None:
        status, note = "FAILED", f"Order failed: {refused.description} ({refused.code})"
    else:
        status, note = "FAILED", "Order failed: no numbers matched the request"
    npas = sorted({phone.e164_to_tn(tn)[:3] for tn in already + got})
    summary = (
        f"{completed} number{'s' if completed != 1 else ''} ordered in ({', '.join(npas)})"
        if completed
        else None
    )
    await repo.finish(
        conn,
        order_id,
        status=status,
        completed_quantity=completed,
        failed_quantity=max(quantity - completed, 0) if status != "BACKORDERED" else 0,
        summary=summary,
        completed_at=now() if status in ("COMPLETE", "PARTIAL", "FAILED") else None,
    )
    await repo.add_history(conn, order_id, note, status)


async def create_disconnect(
    conn: AsyncConnection,
    account_id: str,
    user: str,
    tns: list[str],
    customer_order_id: str | None,
    extra: dict[str, object],
) -> repo.OrderRow:
    if not tns:
        raise InvalidInput(
            "DisconnectTelephoneNumberOrderType needs a TelephoneNumberList.", code=E_MISSING_FIELD
        )
    if len(tns) > MAX_QUANTITY:
        raise InvalidInput(f"At most {MAX_QUANTITY} numbers per disconnect.", code=E_QUANTITY)
    e164 = _e164_numbers(tns)
    protected = str(extra.get("Protected", "UNCHANGED")).upper()
    if protected not in ("TRUE", "FALSE", "UNCHANGED"):
        raise InvalidInput(
            "Protected attribute is invalid. Valid values: TRUE, FALSE, UNCHANGED.",
            code=E_ORDER_TYPE,
        )
    return await _receive(
        conn,
        account_id,
        DISCONNECT,
        user,
        customer_order_id=customer_order_id,
        request={"tns": list(dict.fromkeys(e164)), "extra": extra},
    )


async def process_disconnect(conn: AsyncConnection, order_id: str) -> None:
    order = await repo.get_any(conn, order_id)
    if order is None or order.status != "RECEIVED":
        return
    tns: list[str] = order.request["tns"]
    removed = set(await numbers_repo.release(conn, order.account_id, tns))
    await repo.add_tns(
        conn,
        order_id,
        [
            repo.OrderTn(tn, "completed", None, None)
            if tn in removed
            else repo.OrderTn(
                tn, "failed", E_NOT_ON_ACCOUNT, "Number does not belong to this account."
            )
            for tn in tns
        ],
    )
    done = len(removed)
    status = "COMPLETE" if done == len(tns) else ("PARTIAL" if done else "FAILED")
    await repo.finish(
        conn,
        order_id,
        status=status,
        completed_quantity=done,
        failed_quantity=len(tns) - done,
        completed_at=now(),
    )
    await repo.add_history(conn, order_id, f"Disconnect {status.lower()}", status)


async def get_order(
    conn: AsyncConnection, account_id: str, order_id: str, order_type: str = NEW_NUMBER
) -> tuple[repo.OrderRow, list[repo.OrderTn]]:
    row = await repo.get(conn, account_id, order_id, order_type)
    if row is None:
        what = "Order" if order_type == NEW_NUMBER else "Disconnect order"
        raise NotFound(f"{what} {order_id} not found", code=5004)
    return row, await repo.tns(conn, order_id)


async def list_orders(
    conn: AsyncConnection,
    account_id: str,
    order_type: str,
    f: OrderFilter = _ANY,
    *,
    after_id: str | None = None,
    limit: int = 300,
) -> tuple[int, list[repo.OrderRow], dict[str, int]]:
    """(total matching, a page from `after_id` on, numbers per order of the page)."""
    total, rows = await repo.list_(conn, account_id, order_type, f, after_id=after_id, limit=limit)
    counts = await repo.tn_counts(conn, [r.id for r in rows]) if rows else {}
    return total, rows, counts


async def order_history(
    conn: AsyncConnection, account_id: str, order_id: str
) -> tuple[repo.OrderRow, list[repo.OrderTn], list[repo.HistoryRow]]:
    row, tns = await get_order(conn, account_id, order_id)
    return row, tns, await repo.history(conn, order_id)


class Orders:
    """Orders and disconnects as the API families place them: each accepted in its own
    transaction, and its job woken at once (`wake`) instead of at the workers' next poll."""

    def __init__(self, db: Database, wake: Callable[[], None]) -> None:
        self.db = db
        self.wake = wake

    async def accept(
        self,
        fn: Callable[Concatenate[AsyncConnection, P], Awaitable[repo.OrderRow]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> repo.OrderRow:
        """Run `create_order` or `create_disconnect`; the order's job runs right after."""
        async with self.db.begin() as conn:
            row = await fn(conn, *args, **kwargs)
        self.wake()
        return row
