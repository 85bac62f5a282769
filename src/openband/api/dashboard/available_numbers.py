"""GET /accounts/{accountId}/availableNumbers: search the inventory (rules in core.inventory).

Results can hold 5000 numbers, so the document is written directly rather than through
pydantic-xml models; every value is escaped.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from openband.api.context import ctx
from openband.api.dashboard.routing import DashboardRouter, principal
from openband.api.dashboard.xml import XML_MEDIA_TYPE
from openband.core.inventory import Inventory, NumberRow, Search, parse_flag

router = DashboardRouter()

_HEAD = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<SearchResult>"


def _detail(n: NumberRow) -> str:
    parts = ["<TelephoneNumberDetail>"]
    for tag, value in (
        ("City", n.city),
        ("LATA", n.lata),
        ("RateCenter", n.rate_center),
        ("State", n.state),
        ("FullNumber", n.national),
        # Bandwidth's own numbers are tier 0 from vendor 49; clients read these verbatim.
        ("Tier", "0"),
        ("VendorId", "49"),
        ("VendorName", "Bandwidth CLEC"),
    ):
        if value:
            parts.append(f"<{tag}>{escape(value)}</{tag}>")
    parts.append("</TelephoneNumberDetail>")
    return "".join(parts)


def render(numbers: list[NumberRow], detail: bool) -> bytes:
    out = [_HEAD, f"<ResultCount>{len(numbers)}</ResultCount>"]
    if numbers and detail:
        out.append("<TelephoneNumberDetailList>")
        out.extend(_detail(n) for n in numbers)
        out.append("</TelephoneNumberDetailList>")
    elif numbers:
        out.append("<TelephoneNumberList><TelephoneNumber>")
        # n[0] is the E.164 number ('+1' + 10 digits): slicing beats the `national` property.
        out.append("</TelephoneNumber><TelephoneNumber>".join([n[0][2:] for n in numbers]))
        out.append("</TelephoneNumber></TelephoneNumberList>")
    out.append("</SearchResult>")
    return "".join(out).encode()


@router.xml("GET", "/accounts/{account_id}/availableNumbers", "SearchResult", style="error")
async def available_numbers(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    params = request.query_params
    query = Search.from_params(params)
    detail = parse_flag(
        next((v for k, v in params.items() if k.lower() == "enabletndetail"), None),
        "enableTNDetail",
    )
    c = ctx(request)
    inventory = c.inventory or Inventory(c.settings, c.db)
    async with c.db.connect() as conn:
        numbers = await inventory.search_rows(conn, query)
    return Response(render(numbers, detail), media_type=XML_MEDIA_TYPE)
