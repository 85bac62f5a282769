"""SIP peers (Bandwidth's "locations") of a site: one default per site, always."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.core.provisioning.sites import load_site, parse_address
from openband.core.provisioning.validators import (
    E_DEFAULT_PEER,
    E_PEER_HAS_NUMBERS,
    E_PEER_HAS_SMS,
    E_PEER_NOT_FOUND,
    max_len,
    numeric_id,
    parse_bool,
    required_text,
    text,
)
from openband.errors import InvalidInput, NotFound
from openband.store import provisioning as repo
from openband.store.provisioning import PeerRow


@dataclass
class PeerInput:
    name: str | None = None
    description: str | None = None
    is_default: str | None = None
    address: dict[str, str | None] | None = None
    calling_name: dict[str, str | None] | None = None
    billing_identifier: str | None = None
    final_destination_uri: str | None = None


async def load_peer(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    *,
    lock: bool = False,
) -> PeerRow:
    """The peer of that site and account (locked, with its site, when `lock`), else NotFound."""
    site = await load_site(conn, account_id, site_id, lock=lock)
    pid = numeric_id(peer_id)
    row = (
        await repo.get_peer(conn, account_id, pid, site.id, lock=lock) if pid is not None else None
    )
    if row is None:
        raise NotFound(
            f"Sip Peer '{str(peer_id)[:40]}' account '{account_id}' and site "
            f"'{str(site_id)[:40]}' does not exist",
            code=E_PEER_NOT_FOUND,
        )
    return row


async def save_peer(
    conn: AsyncConnection, account_id: str, peer: PeerRow, values: dict[str, Any]
) -> PeerRow:
    """Write `values` on a peer already loaded (and locked) and read it back."""
    await repo.update_peer(conn, peer.id, values)
    return await load_peer(conn, account_id, peer.site_id, peer.id)


async def get_peer(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> PeerRow:
    return await load_peer(conn, account_id, site_id, peer_id)


async def find_peer(conn: AsyncConnection, account_id: str, peer_id: int | str) -> PeerRow | None:
    pid = numeric_id(peer_id)
    return await repo.get_peer(conn, account_id, pid) if pid is not None else None


async def default_peer(conn: AsyncConnection, account_id: str, site_id: int) -> PeerRow | None:
    sid = numeric_id(site_id)
    return await repo.default_peer(conn, account_id, sid) if sid is not None else None


async def list_peers(conn: AsyncConnection, account_id: str, site_id: int | str) -> list[PeerRow]:
    site = await load_site(conn, account_id, site_id)
    return await repo.list_peers(conn, account_id, site.id)


def _peer_extra(data: PeerInput, previous: dict[str, Any]) -> dict[str, Any]:
    extra = dict(previous)
    address = parse_address(data.address, required=False)
    if address is not None:
        extra["address"] = address
    if data.calling_name is not None:
        cn = {
            "display": parse_bool(data.calling_name.get("display"), "CallingName.Display"),
            "enforced": parse_bool(data.calling_name.get("enforced"), "CallingName.Enforced"),
        }
        extra["calling_name"] = {k: v for k, v in cn.items() if v is not None}
    for key, label, limit in (
        ("billing_identifier", "BillingIdentifier", 50),
        ("final_destination_uri", "FinalDestinationUri", 255),
    ):
        v = max_len(text(getattr(data, key)), label, limit)
        if v is not None:
            extra[key] = v
    return extra


async def create_peer(
    conn: AsyncConnection, account_id: str, site_id: int | str, data: PeerInput
) -> PeerRow:
    site = await load_site(conn, account_id, site_id, lock=True)  # serialises default changes
    name = max_len(required_text(data.name, "PeerName"), "PeerName", 255)
    wants_default = parse_bool(data.is_default, "IsDefaultPeer")
    first = await repo.count_peers(conn, site.id) == 0
    # A site's first peer is its default whatever the request says; later ones only on request.
    is_default = first or bool(wants_default)
    peer_id = await repo.insert_peer(
        conn,
        account_id,
        site.id,
        {
            "name": name,
            "description": max_len(text(data.description), "Description", 1000),
            "is_default": is_default,
            "extra": _peer_extra(data, {}),
        },
    )
    if is_default and not first:
        await repo.clear_default(conn, site.id, peer_id)
    return await load_peer(conn, account_id, site.id, peer_id)


async def update_peer(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    data: PeerInput,
) -> PeerRow:
    """PUT on a peer: the given elements change, omitted ones keep their value."""
    peer = await load_peer(conn, account_id, site_id, peer_id, lock=True)
    values: dict[str, Any] = {"extra": _peer_extra(data, peer.extra)}
    if text(data.name) is not None:
        values["name"] = max_len(text(data.name), "PeerName", 255)
    if text(data.description) is not None:
        values["description"] = max_len(text(data.description), "Description", 1000)
    wants_default = parse_bool(data.is_default, "IsDefaultPeer")
    if wants_default is False and peer.is_default:
        raise InvalidInput(
            "IsDefaultPeer cannot be false right now. The site requires a default Sip Peer; "
            "make another Sip Peer the default instead",
            code=E_DEFAULT_PEER,
            field="IsDefaultPeer",
        )
    if wants_default and not peer.is_default:
        values["is_default"] = True
        await repo.clear_default(conn, peer.site_id, peer.id)
    return await save_peer(conn, account_id, peer, values)


async def delete_peer(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> None:
    peer = await load_peer(conn, account_id, site_id, peer_id, lock=True)
    if peer.sms_feature is not None:
        raise InvalidInput(
            "Delete not allowed while a SIP Peer has SMS feature", code=E_PEER_HAS_SMS
        )
    if await repo.peer_has_numbers(conn, peer.id):
        raise InvalidInput(
            "Delete not allowed while a SIP Peer has telephone numbers", code=E_PEER_HAS_NUMBERS
        )
    await repo.delete_peer(conn, peer.id)
    if peer.is_default:
        # Keep "one default per site": the oldest remaining peer takes over.
        rest = await repo.list_peers(conn, account_id, peer.site_id)
        if rest:
            await repo.update_peer(conn, rest[0].id, {"is_default": True})
