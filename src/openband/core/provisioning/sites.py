"""Sites (Bandwidth's sub-accounts) and the service address they share with SIP peers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.core.provisioning.validators import (
    E_SITE_IN_USE,
    E_SITE_NOT_FOUND,
    choice,
    invalid,
    max_len,
    missing,
    numeric_id,
    required_text,
    text,
)
from openband.errors import InvalidInput, NotFound
from openband.store import provisioning as repo
from openband.store.provisioning import SiteRow

# Site/peer address: snake_case key -> Bandwidth element, in Bandwidth's output order.
ADDRESS_FIELDS = {
    "house_prefix": "HousePrefix",
    "house_number": "HouseNumber",
    "house_suffix": "HouseSuffix",
    "pre_directional": "PreDirectional",
    "street_name": "StreetName",
    "street_suffix": "StreetSuffix",
    "post_directional": "PostDirectional",
    "address_line2": "AddressLine2",
    "city": "City",
    "state_code": "StateCode",
    "zip": "Zip",
    "plus_four": "PlusFour",
    "county": "County",
    "country": "Country",
    "address_type": "AddressType",
}
_ADDRESS_REQUIRED = ("house_number", "street_name", "city", "state_code", "zip")
_ZIP = re.compile(r"^(\d{5})(?:-(\d{4}))?$", re.ASCII)
_UC_TYPES = ("Seats", "Premise", "Cloud")
_UC_CATEGORIES = ("UC250", "UC500", "UC1000")


@dataclass
class SiteInput:
    name: str | None = None
    description: str | None = None
    customer_name: str | None = None
    customer_provided_id: str | None = None
    address: dict[str, str | None] | None = None
    uc_trunking: dict[str, str | None] | None = None


def parse_address(raw: dict[str, str | None] | None, *, required: bool) -> dict[str, str] | None:
    """A validated address, or None when none is given and none is `required`."""
    if raw is None or not any(text(v) for v in raw.values()):
        if required:
            raise missing("Address")
        return None
    out: dict[str, str] = {}
    for key, label in ADDRESS_FIELDS.items():
        v = max_len(text(raw.get(key)), label, 100)
        if v is not None:
            out[key] = v
    for key in _ADDRESS_REQUIRED:
        if key not in out:
            raise missing(ADDRESS_FIELDS[key])
    state = out["state_code"].upper()
    if not re.fullmatch(r"[A-Z]{2}", state):
        raise invalid("StateCode", out["state_code"], "A 2-letter state code is required.")
    out["state_code"] = state
    m = _ZIP.match(out["zip"])
    if m is None:
        raise invalid("Zip", out["zip"], "A 5-digit ZIP code is required.")
    out["zip"] = m.group(1)
    if m.group(2) and "plus_four" not in out:
        out["plus_four"] = m.group(2)
    out["address_type"] = (
        choice(out.get("address_type"), "AddressType", ("Service", "Billing")) or "Service"
    )
    return out


def _site_values(data: SiteInput) -> dict[str, Any]:
    name = max_len(required_text(data.name, "Name"), "Name", 10)
    address = parse_address(data.address, required=True)
    extra: dict[str, Any] = {}
    if data.uc_trunking is not None:
        uc = {
            "type": choice(data.uc_trunking.get("type"), "Type", _UC_TYPES),
            "usage_category": choice(
                data.uc_trunking.get("usage_category"), "UsageCategory", _UC_CATEGORIES
            ),
        }
        uc = {k: v for k, v in uc.items() if v is not None}
        if uc:
            extra["uc_trunking"] = uc
    return {
        "name": name,
        "description": max_len(text(data.description), "Description", 1000),
        "customer_name": max_len(text(data.customer_name), "CustomerName", 50),
        "customer_provided_id": max_len(text(data.customer_provided_id), "CustomerProvidedID", 10),
        "address": address,
        "extra": extra,
    }


async def load_site(
    conn: AsyncConnection, account_id: str, site_id: int | str, *, lock: bool = False
) -> SiteRow:
    sid = numeric_id(site_id)
    row = await repo.get_site(conn, account_id, sid, lock=lock) if sid is not None else None
    if row is None:
        raise NotFound(f"Site '{str(site_id)[:40]}' does not exist", code=E_SITE_NOT_FOUND)
    return row


async def get_site(conn: AsyncConnection, account_id: str, site_id: int | str) -> SiteRow:
    return await load_site(conn, account_id, site_id)


async def list_sites(conn: AsyncConnection, account_id: str) -> list[SiteRow]:
    return await repo.list_sites(conn, account_id)


async def create_site(conn: AsyncConnection, account_id: str, data: SiteInput) -> SiteRow:
    site_id = await repo.insert_site(conn, account_id, _site_values(data))
    return await load_site(conn, account_id, site_id)


async def replace_site(
    conn: AsyncConnection, account_id: str, site_id: int | str, data: SiteInput
) -> SiteRow:
    site = await load_site(conn, account_id, site_id, lock=True)
    await repo.update_site(conn, site.id, _site_values(data))
    return await load_site(conn, account_id, site.id)


async def delete_site(conn: AsyncConnection, account_id: str, site_id: int | str) -> None:
    site = await load_site(conn, account_id, site_id, lock=True)
    if await repo.site_has_peers(conn, site.id):
        raise InvalidInput(
            f"Site '{site.id}' cannot be deleted while it has SIP Peers", code=E_SITE_IN_USE
        )
    if await repo.site_has_numbers(conn, site.id):
        raise InvalidInput(
            f"Site '{site.id}' cannot be deleted while it has telephone numbers",
            code=E_SITE_IN_USE,
        )
    await repo.delete_site(conn, site.id)
