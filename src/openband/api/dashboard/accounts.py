"""GET /accounts/{accountId}."""

from __future__ import annotations

from pydantic_xml import element
from starlette.requests import Request
from starlette.responses import Response

from openband.api.context import ctx
from openband.api.dashboard.routing import DashboardRouter, principal
from openband.api.dashboard.xml import XmlDoc, xml_response
from openband.core import accounts

router = DashboardRouter()


class AccountDoc(XmlDoc, tag="Account"):
    account_id: str = element(tag="AccountId")
    company_name: str | None = element(tag="CompanyName", default=None)
    account_type: str = element(tag="AccountType", default="Business")
    status: str = element(tag="Status", default="ACTIVE")


class AccountResponse(XmlDoc, tag="AccountResponse"):
    account: AccountDoc


@router.xml("GET", "/accounts/{account_id}", "AccountResponse")
async def get_account(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    row = await ctx(request).read(accounts.get_account, account_id)
    return xml_response(
        AccountResponse(account=AccountDoc(account_id=row.id, company_name=row.name or None))
    )
