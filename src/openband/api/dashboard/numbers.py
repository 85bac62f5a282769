"""Numbers in service: /inserviceNumbers, a site's and a location's numbers, and global /tns.

/tns is not account-scoped in its path; it shows only the caller's own numbers, and another
account's number answers 404 as if it did not exist.
"""

from __future__ import annotations

from lxml.builder import E
from starlette.requests import Request
from starlette.responses import Response

from openband.api.auth import authenticate
from openband.api.context import ctx
from openband.api.dashboard.orders import _date, _links
from openband.api.dashboard.routing import DASHBOARD_KINDS, DashboardRouter, principal
from openband.api.dashboard.xml import xml
from openband.clock import iso
from openband.core import numbers, phone
from openband.core import provisioning as prov
from openband.errors import InvalidInput, NotFound

router = DashboardRouter()


def _int(value: str | None, default: int, name: str, lo: int, hi: int) -> int:
    if value in (None, ""):
        return default
    if not phone.ascii_digits(str(value)) or not lo <= int(value) <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}", code=15501, field=name)
    return int(value)


def _filter(request: Request, account_id: str, **kw: object) -> numbers.NumberFilter:
    q = request.query_params

    def get(*names: str) -> str | None:
        for n in names:
            if q.get(n):
                return q[n]
        return None

    npa = get("areacode", "areaCode", "npa")
    npa_nxx = get("npanxx", "npaNxx")
    npa_nxx_x = get("npaNxxX", "npanxxx")
    for name, value, size in (
        ("areacode", npa, 3),
        ("npanxx", npa_nxx, 6),
        ("npaNxxX", npa_nxx_x, 7),
    ):
        if value is not None and (not phone.ascii_digits(value) or len(value) != size):
            raise InvalidInput(f"The {name} '{value}' is invalid", code=15511, field=name)
    full = get("fullNumber")
    return numbers.NumberFilter(
        account_id=account_id,
        npa=npa,
        npa_nxx=npa_nxx,
        npa_nxx_x=npa_nxx_x,
        tn_prefix=phone.e164_to_tn(phone.tn_to_e164(full)) if full else None,
        lata=get("lata"),
        state=get("state"),
        rate_center=get("ratecenter", "rateCenter"),
        city=get("city"),
        start=_date(get("startdate"), "startdate"),
        end=_date(get("enddate"), "enddate"),
        **kw,  # type: ignore[arg-type]
    )


async def _tns_page(request: Request, f: numbers.NumberFilter, default_size: int) -> Response:
    page = _int(request.query_params.get("page"), 1, "page", 1, 10**9)
    size = _int(request.query_params.get("size"), default_size, "size", 1, 5000)
    total, rows = await ctx(request).read(numbers.search, f, offset=(page - 1) * size, limit=size)
    if total == 0:
        return Response(status_code=204)
    next_page = str(page + 1) if page * size < total else None
    return xml(
        E.TNs(
            E.TotalCount(str(total)),
            _links(request, next_page, size),
            E.TelephoneNumbers(
                E.Count(str(len(rows))), *[E.TelephoneNumber(phone.e164_to_tn(r.tn)) for r in rows]
            ),
        )
    )


@router.xml("GET", "/accounts/{account_id}/inserviceNumbers", "TNs")
async def in_service(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    return await _tns_page(request, _filter(request, account_id), 300)


@router.xml("GET", "/accounts/{account_id}/inserviceNumbers/totals", "Quantity")
async def in_service_totals(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    total = await ctx(request).read(numbers.totals, account_id)
    return xml(E.Quantity(E.Count(str(total))))


@router.xml("GET", "/accounts/{account_id}/inserviceNumbers/{tn}", "TelephoneNumberResponse")
async def in_service_one(request: Request, account_id: str, tn: str) -> Response:
    await principal(request, account_id)
    await ctx(request).read(numbers.owned, account_id, tn)
    return Response(status_code=200)


@router.xml("GET", "/accounts/{account_id}/sites/{site_id}/inserviceNumbers", "TNs")
async def site_in_service(request: Request, account_id: str, site_id: str) -> Response:
    await principal(request, account_id)
    site = await ctx(request).read(prov.get_site, account_id, site_id)
    return await _tns_page(request, _filter(request, account_id, site_id=site.id), 300)


def _peer_tn(row: numbers.NumberRow, sms: bool) -> object:
    el = E.SipPeerTelephoneNumber(
        E.FullNumber(phone.e164_to_tn(row.tn)), E.CallingNameDisplay("false")
    )
    el.append(E.MessagingSettings(E.SmsEnabled(str(sms).lower())))
    return el


@router.xml(
    "GET",
    "/accounts/{account_id}/sites/{site_id}/sippeers/{peer_id}/tns",
    "SipPeerTelephoneNumbersResponse",
)
async def peer_tns(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    page = _int(request.query_params.get("page"), 1, "page", 1, 10**9)
    size = _int(request.query_params.get("size"), 5000, "size", 1, 5000)
    peer, rows = await ctx(request).read(
        numbers.location_numbers,
        account_id,
        site_id,
        peer_id,
        offset=(page - 1) * size,
        limit=size,
    )
    sms = peer.sms_feature is not None
    return xml(
        E.SipPeerTelephoneNumbersResponse(
            E.SipPeerTelephoneNumbers(*[_peer_tn(r, sms) for r in rows])
        )
    )


@router.xml(
    "GET",
    "/accounts/{account_id}/sites/{site_id}/sippeers/{peer_id}/tns/{tn}",
    "SipPeerTelephoneNumberResponse",
)
async def peer_tn(
    request: Request, account_id: str, site_id: str, peer_id: str, tn: str
) -> Response:
    await principal(request, account_id)
    peer, row = await ctx(request).read(numbers.location_number, account_id, site_id, peer_id, tn)
    return xml(E.SipPeerTelephoneNumberResponse(_peer_tn(row, peer.sms_feature is not None)))


# --- global /tns -----------------------------------------------------------------------------


def _tn_detail(row: numbers.NumberRow) -> object:
    return E.TelephoneNumber(
        E.City(row.city or ""),
        E.Lata(row.lata or ""),
        E.State(row.state or ""),
        E.FullNumber(phone.e164_to_tn(row.tn)),
        E.Tier("0"),
        E.VendorId("49"),
        E.VendorName("OpenBand"),
        E.RateCenter(row.rate_center or ""),
        E.Status(row.status),
        E.AccountId(row.account_id),
        E.LastModified(iso(row.updated_at)),
        E.InServiceDate(iso(row.created_at)),
    )


@router.xml("GET", "/tns", "TelephoneNumbersResponse")
async def list_tns(request: Request) -> Response:
    who = await authenticate(request, DASHBOARD_KINDS)
    asked = request.query_params.get("accountId")
    if asked and asked != who.account_id:
        raise NotFound("No telephone numbers found", code=15501)
    page = _int(request.query_params.get("page"), 1, "page", 1, 10**9)
    size = _int(request.query_params.get("size"), 500, "size", 1, 2500)
    f = _filter(request, who.account_id)
    total, rows = await ctx(request).read(numbers.search, f, offset=(page - 1) * size, limit=size)
    next_page = str(page + 1) if page * size < total else None
    return xml(
        E.TelephoneNumbersResponse(
            E.TelephoneNumberCount(str(total)),
            _links(request, next_page, size),
            E.TelephoneNumbers(*[_tn_detail(r) for r in rows]),
        )
    )


@router.xml("GET", "/tns/{tn}", "TelephoneNumberResponse")
async def get_tn(request: Request, tn: str) -> Response:
    who = await authenticate(request, DASHBOARD_KINDS)
    row = await ctx(request).read(numbers.owned, who.account_id, tn)
    doc = E.TelephoneNumberResponse(
        E.TelephoneNumber(phone.e164_to_tn(row.tn)),
        E.Status(row.status),
        E.LastModifiedDate(iso(row.updated_at)),
        E.OrderCreateDate(iso(row.created_at)),
    )
    if row.order_id:
        doc.append(E.OrderId(row.order_id))
    doc.append(E.OrderType("NEW_NUMBER_ORDER"))
    doc.append(E.InServiceDate(iso(row.created_at)))
    if row.site_id is not None:
        doc.append(E.SiteId(str(row.site_id)))
    doc.append(E.AccountId(row.account_id))
    return xml(doc)


@router.xml("GET", "/tns/{tn}/{detail}", "TelephoneNumberResponse")
async def get_tn_detail(request: Request, tn: str, detail: str) -> Response:
    who = await authenticate(request, DASHBOARD_KINDS)
    platform = ctx(request)
    if detail == "sites":
        site = await platform.read(numbers.site_of, who.account_id, tn)
        return xml(E.Site(E.Id(str(site.id)), E.Name(site.name)))
    if detail == "sippeers":
        peer = await platform.read(numbers.location_of, who.account_id, tn)
        return xml(E.SipPeer(E.Id(str(peer.id)), E.Name(peer.name)))
    row = await platform.read(numbers.owned, who.account_id, tn)
    if detail == "ratecenter":
        inner = [E.State(row.state or ""), E.RateCenter(row.rate_center or "")]
    elif detail == "lata":
        inner = [E.Lata(row.lata or "")]
    elif detail == "tndetails":
        inner = [
            E.FullNumber(phone.e164_to_tn(row.tn)),
            E.City(row.city or ""),
            E.Lata(row.lata or ""),
            E.State(row.state or ""),
            E.RateCenter(row.rate_center or ""),
            E.Tier("0"),
            E.VendorId("49"),
            E.VendorName("OpenBand"),
            E.Status(row.status),
            E.AccountId(row.account_id),
            E.SiteId(str(row.site_id or "")),
        ]
    else:
        raise NotFound(f"Unknown telephone number resource {detail}", code=numbers.E_NOT_FOUND)
    return xml(E.TelephoneNumberResponse(E.TelephoneNumberDetails(*inner)))
