"""Number orders (/orders) and disconnects (/disconnects).

Order documents are polymorphic (one of a dozen SearchAndOrder types) and are echoed back as
given, so they are read and written with lxml directly rather than through fixed models.
"""

from __future__ import annotations

from lxml import etree
from lxml.builder import E
from starlette.requests import Request
from starlette.responses import Response

from openband.api.body import read_body
from openband.api.context import ctx
from openband.api.dashboard.routing import DashboardRouter, location, principal
from openband.api.dashboard.xml import local, parse_tree, xml
from openband.clock import iso, parse_iso
from openband.core import orders as core
from openband.core import phone
from openband.errors import InvalidInput

router = DashboardRouter()

_FLAGS = ("PartialAllowed", "BackOrderRequested")
_ECHO = ("TnAttributes",)


def _text(el: etree._Element | None) -> str | None:
    return el.text.strip() if el is not None and el.text is not None else None


def _bool(value: str | None, default: bool, name: str) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{name} must be true or false", code=core.E_ORDER_TYPE, field=name)


def parse_order(body: bytes) -> core.OrderRequest:
    root = parse_tree(body)
    if local(root.tag) != "Order":
        raise InvalidInput("The request body must be an <Order> document", code=1001)
    types = [c for c in root if local(c.tag) in core.ORDER_TYPES or local(c.tag) == core.EXISTING]
    if len(types) > 1:
        raise InvalidInput("An order carries exactly one order type", code=core.E_ORDER_TYPE)
    req = core.OrderRequest(order_type=local(types[0].tag) if types else None)
    for child in root:
        name = local(child.tag)
        if name == "CustomerOrderId":
            req.customer_order_id = _text(child)
        elif name == "Name":
            req.name = _text(child)
        elif name == "SiteId":
            req.site_id = _text(child)
        elif name == "PeerId":
            req.peer_id = _text(child)
        elif name == "PartialAllowed":
            req.partial_allowed = _bool(_text(child), True, name)
        elif name == "BackOrderRequested":
            req.back_order_requested = _bool(_text(child), False, name)
        elif name in _ECHO:
            req.extra[name] = [_text(c) for c in child if _text(c)]
    if types:
        t = types[0]
        if req.order_type == core.EXISTING:
            req.tns = [_text(n) or "" for n in t.iterfind("TelephoneNumberList/TelephoneNumber")]
            req.reservation_ids = [
                _text(n) or "" for n in t.iterfind("ReservationIdList/ReservationId")
            ]
        else:
            req.fields = {local(c.tag): _text(c) or "" for c in t if len(c) == 0}
    return req


def _order_element(row: core.OrderRow) -> etree._Element:
    """The <Order> as requested, enriched with id and dates (Bandwidth's echo)."""
    req = row.request
    order = E.Order()
    if row.customer_order_id:
        order.append(E.CustomerOrderId(row.customer_order_id))
    if row.name:
        order.append(E.Name(row.name))
    order.append(E.id(row.id))
    order.append(E.OrderCreateDate(iso(row.created_at)))
    if row.peer_id is not None:
        order.append(E.PeerId(str(row.peer_id)))
    order.append(E.BackOrderRequested(str(bool(req.get("back_order_requested"))).lower()))
    kind = req.get("order_type")
    if kind == core.EXISTING:
        order.append(
            E(
                kind,
                E.TelephoneNumberList(
                    *[E.TelephoneNumber(phone.e164_to_tn(t)) for t in req["tns"]]
                ),
            )
        )
    elif kind:
        order.append(E(kind, *[E(k, v) for k, v in req.get("fields", {}).items()]))
    attrs = req.get("extra", {}).get("TnAttributes")
    if attrs:
        order.append(E.TnAttributes(*[E.TnAttribute(a) for a in attrs]))
    order.append(E.PartialAllowed(str(bool(req.get("partial_allowed", True))).lower()))
    if row.site_id is not None:
        order.append(E.SiteId(str(row.site_id)))
    return order


@router.xml("POST", "/accounts/{account_id}/orders", "OrderResponse", style="errorlist")
async def create_order(request: Request, account_id: str) -> Response:
    who = await principal(request, account_id)
    req = parse_order(await read_body(request))
    row = await ctx(request).orders.accept(core.create_order, account_id, who.username, req)
    doc = E.OrderResponse(_order_element(row), E.OrderStatus(row.status))
    return xml(doc, 201, location(request, f"/accounts/{account_id}/orders/{row.id}"))


def _paging(request: Request) -> tuple[str | None, int]:
    page = request.query_params.get("page")
    size_raw = request.query_params.get("size", "300")
    if not (size_raw.isascii() and size_raw.isdigit()) or not 1 <= int(size_raw) <= 1000:
        raise InvalidInput("size must be between 1 and 1000", code=5005, field="size")
    return (None if page in (None, "", "1") else page), int(size_raw)


def _date(value: str | None, name: str):  # type: ignore[no-untyped-def]
    if not value:
        return None
    try:
        if len(value) == 8 and value[2] == "-":  # YY-MM-DD, as Bandwidth documents it
            value = "20" + value
        return parse_iso(value if "T" in value else value + "T00:00:00Z")
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", code=5005, field=name) from exc


def _links(request: Request, next_page: str | None, size: int) -> etree._Element:
    base = str(request.url.remove_query_params(["page", "size"]))
    sep = "&" if "?" in base else "?"
    links = E.Links(E.first(f'Link=<{base}{sep}page=1&size={size}>;rel="first";'))
    if next_page:
        links.append(E.next(f'Link=<{base}{sep}page={next_page}&size={size}>;rel="next";'))
    return links


async def _list(request: Request, account_id: str, order_type: str) -> Response:
    await principal(request, account_id)
    after, size = _paging(request)
    q = request.query_params
    total, rows, counts = await ctx(request).read(
        core.list_orders,
        account_id,
        order_type,
        core.OrderFilter(
            status=q.get("status"),
            customer_order_id=q.get("customerOrderId"),
            user=q.get("userid"),
            start=_date(q.get("startdate"), "startdate"),
            end=_date(q.get("enddate"), "enddate"),
        ),
        after_id=after,
        limit=size + 1,
    )
    next_page = rows[size].id if len(rows) > size else None
    wrapper = E.ListOrderIdUserIdDate(E.TotalCount(str(total)), _links(request, next_page, size))
    id_tag = "orderId" if order_type == core.NEW_NUMBER else "OrderId"
    for r in rows[:size]:
        item = E.OrderIdUserIdDate(
            E.CountOfTNs(str(counts.get(r.id, 0))),
            E.userId(r.created_by_user or ""),
            E.lastModifiedDate(iso(r.updated_at)),
            E(id_tag, r.id),
            E.OrderType("new_number" if order_type == core.NEW_NUMBER else "disconnect"),
            E.OrderDate(iso(r.created_at)),
            E.OrderStatus(r.status),
        )
        if r.customer_order_id:
            item.append(E.CustomerOrderId(r.customer_order_id))
        wrapper.append(item)
    return xml(E.ResponseSelectWrapper(wrapper))


@router.xml("GET", "/accounts/{account_id}/orders", "ResponseSelectWrapper", style="errorlist")
async def list_orders(request: Request, account_id: str) -> Response:
    return await _list(request, account_id, core.NEW_NUMBER)


@router.xml("GET", "/accounts/{account_id}/orders/totals", "ResponseSelectWrapper")
async def order_totals(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    total, _, _ = await ctx(request).read(
        core.list_orders,
        account_id,
        core.NEW_NUMBER,
        core.OrderFilter(status=request.query_params.get("status")),
        limit=0,
    )
    return xml(E.ResponseSelectWrapper(E.ListOrderIdUserIdDate(E.TotalCount(str(total)))))


@router.xml("GET", "/accounts/{account_id}/orders/{order_id}", "OrderResponse", style="errorlist")
async def get_order(request: Request, account_id: str, order_id: str) -> Response:
    await principal(request, account_id)
    detail = request.query_params.get("tndetail", "").lower() == "true"
    row, tns = await ctx(request).read(core.get_order, account_id, order_id)
    doc = E.OrderResponse(E.CompletedQuantity(str(row.completed_quantity)))
    if row.created_by_user:
        doc.append(E.CreatedByUser(row.created_by_user))
    doc.append(E.LastModifiedDate(iso(row.updated_at)))
    if row.completed_at:
        doc.append(E.OrderCompleteDate(iso(row.completed_at)))
    # The SDKs read Order/id back (e.g. @bandwidth/numbers getTnsAsync), so GET carries it too.
    doc.append(_order_element(row))
    doc.append(E.OrderStatus(row.status))
    done = [t for t in tns if t.status == "completed"]
    if done:
        completed = E.CompletedNumbers()
        for t in done:
            tn_el = E.TelephoneNumber(E.FullNumber(phone.e164_to_tn(t.tn)))
            completed.append(tn_el)
        doc.append(completed)
    if row.summary:
        doc.append(E.Summary(row.summary))
    doc.append(E.FailedQuantity(str(row.failed_quantity)))
    failed = [t for t in tns if t.status == "failed"]
    if failed:
        # Reasons live in /history: error elements in a 200 body make @bandwidth/numbers throw.
        doc.append(E.FailedNumbers(*[E.FullNumber(phone.e164_to_tn(t.tn)) for t in failed]))
    if detail and done:
        doc.append(
            E.TelephoneNumberDetailList(
                *[E.TelephoneNumberDetail(E.FullNumber(phone.e164_to_tn(t.tn))) for t in done]
            )
        )
    return xml(doc)


@router.xml("GET", "/accounts/{account_id}/orders/{order_id}/tns", "TelephoneNumbers")
async def order_tns(request: Request, account_id: str, order_id: str) -> Response:
    await principal(request, account_id)
    _, tns = await ctx(request).read(core.get_order, account_id, order_id)
    done = [phone.e164_to_tn(t.tn) for t in tns if t.status == "completed"]
    return xml(E.TelephoneNumbers(E.Count(str(len(done))), *[E.TelephoneNumber(t) for t in done]))


@router.xml("GET", "/accounts/{account_id}/orders/{order_id}/history", "OrderHistoryWrapper")
async def order_history(request: Request, account_id: str, order_id: str) -> Response:
    await principal(request, account_id)
    row, tns, hist = await ctx(request).read(core.order_history, account_id, order_id)
    doc = E.OrderHistoryWrapper()
    for h in hist:
        doc.append(
            E.OrderHistory(
                E.OrderDate(iso(h.at)), E.Note(h.note), E.Author(h.author), E.Status(h.status)
            )
        )
    for t in tns:
        if t.status == "failed":
            doc.append(
                E.OrderHistory(
                    E.OrderDate(iso(row.updated_at)),
                    E.Note(f"{phone.e164_to_tn(t.tn)}: {t.error_description} ({t.error_code})"),
                    E.Author("System"),
                    E.Status(row.status),
                )
            )
    return xml(doc)


# --- disconnects ---------------------------------------------------------------------------


def _disconnect_request(row: core.OrderRow) -> etree._Element:
    extra = row.request.get("extra", {})
    el = E.orderRequest()
    if row.customer_order_id:
        el.append(E.CustomerOrderId(row.customer_order_id))
    el.append(E.id(row.id))
    el.append(E.OrderCreateDate(iso(row.created_at)))
    el.append(
        E.DisconnectTelephoneNumberOrderType(
            E.DisconnectMode(str(extra.get("DisconnectMode", "normal"))),
            E.Protected(str(extra.get("Protected", "UNCHANGED"))),
            E.TelephoneNumberList(
                *[E.TelephoneNumber(phone.e164_to_tn(t)) for t in row.request.get("tns", [])]
            ),
        )
    )
    return el


@router.xml(
    "POST",
    "/accounts/{account_id}/disconnects",
    "DisconnectTelephoneNumberOrderResponse",
    style="errorlist",
)
async def create_disconnect(request: Request, account_id: str) -> Response:
    who = await principal(request, account_id)
    root = parse_tree(await read_body(request))
    if local(root.tag) != "DisconnectTelephoneNumberOrder":
        raise InvalidInput("The body must be a <DisconnectTelephoneNumberOrder>", code=1001)
    kind = root.find("DisconnectTelephoneNumberOrderType")
    tns = (
        []
        if kind is None
        else [_text(t) or "" for t in kind.iterfind("TelephoneNumberList/TelephoneNumber")]
    )
    extra: dict[str, object] = {}
    if kind is not None:
        for name in ("Protected", "DisconnectMode"):
            if (value := _text(kind.find(name))) is not None:
                extra[name] = value
    row = await ctx(request).orders.accept(
        core.create_disconnect,
        account_id,
        who.username,
        tns,
        _text(root.find("CustomerOrderId")),
        extra,
    )
    doc = E.DisconnectTelephoneNumberOrderResponse(
        _disconnect_request(row), E.OrderStatus(row.status)
    )
    return xml(doc, 201, location(request, f"/accounts/{account_id}/disconnects/{row.id}"))


@router.xml("GET", "/accounts/{account_id}/disconnects", "ResponseSelectWrapper")
async def list_disconnects(request: Request, account_id: str) -> Response:
    return await _list(request, account_id, core.DISCONNECT)


@router.xml(
    "GET", "/accounts/{account_id}/disconnects/{order_id}", "DisconnectTelephoneNumberOrderResponse"
)
async def get_disconnect(request: Request, account_id: str, order_id: str) -> Response:
    await principal(request, account_id)
    row, tns = await ctx(request).read(core.get_order, account_id, order_id, core.DISCONNECT)
    doc = E.DisconnectTelephoneNumberOrderResponse()
    done = [t for t in tns if t.status == "completed"]
    if done:
        doc.append(
            E.DisconnectedTelephoneNumberList(
                *[E.TelephoneNumber(phone.e164_to_tn(t.tn)) for t in done]
            )
        )
    failed = [t for t in tns if t.status == "failed"]
    doc.append(_disconnect_request(row))
    doc.append(E.OrderStatus(row.status))
    if failed:
        doc.append(
            E.FailedTelephoneNumberList(
                *[E.TelephoneNumber(phone.e164_to_tn(t.tn)) for t in failed]
            )
        )
    return xml(doc)
