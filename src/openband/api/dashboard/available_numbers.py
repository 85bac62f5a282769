"""GET /accounts/{accountId}/availableNumbers: search the inventory (rules in core.inventory).

Results can hold 5000 numbers, so the document is written as text (xmlsafe's rules) rather
than through pydantic-xml models; detail values are escaped, numbers are digits. Without
enableTNDetail only the numbers are fetched (Inventory.available_numbers).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from openband.api.context import ctx
from openband.api.dashboard.routing import DashboardRouter, principal
from openband.api.dashboard.xml import XML_MEDIA_TYPE
from openband.core.inventory import NumberRow, Search, parse_flag
from openband.xmlsafe import DECLARATION, escape

router = DashboardRouter()

_HEAD = f"{DECLARATION}<SearchResult>"


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


def render_detail(numbers: list[NumberRow]) -> bytes:
    out = [_HEAD, f"<ResultCount>{len(numbers)}</ResultCount>"]
    if numbers:
        out.append("<TelephoneNumberDetailList>")
        out.extend(_detail(n) for n in numbers)
        out.append("</TelephoneNumberDetailList>")
    out.append("</SearchResult>")
    return "".join(out).encode()


def render_numbers(numbers: list[str]) -> bytes:
    """National numbers: digits only, nothing to escape."""
    if not numbers:
        return f"{_HEAD}<ResultCount>0</ResultCount></SearchResult>".encode()
    return (
        f"{_HEAD}<ResultCount>{len(numbers)}</ResultCount><TelephoneNumberList><TelephoneNumber>"
        + "</TelephoneNumber><TelephoneNumber>".join(numbers)
        + "</TelephoneNumber></TelephoneNumberList></SearchResult>"
    ).encode()


@router.xml("GET", "/accounts/{account_id}/availableNumbers", "SearchResult", style="error")
async def available_numbers(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    params = request.query_params
    query = Search.from_params(params)
    detail = parse_flag(
        next((v for k, v in params.items() if k.lower() == "enabletndetail"), None),
        "enableTNDetail",
    )
    inventory = ctx(request).inventory
    if detail:
        rows = await inventory.available_rows(query)
        return Response(render_detail(rows), media_type=XML_MEDIA_TYPE)
    numbers = await inventory.available_numbers(query)
    return Response(render_numbers(numbers), media_type=XML_MEDIA_TYPE)
