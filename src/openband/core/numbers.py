"""Numbers in service on an account: search them, and the rule that a number is seen only by the
account that owns it (anyone else's, or an invalid one, is "not found", Bandwidth's 13566).

Every function takes the transaction it reads in (Platform.read runs one for an API family).
"""

from __future__ import annotations

from openband.core import phone
from openband.core import provisioning as prov
from openband.errors import InvalidInput, NotFound
from openband.store import numbers as repo
from openband.store.db import Transaction
from openband.store.numbers import NumberFilter, NumberRow
from openband.store.provisioning import PeerRow, SiteRow

E_NOT_FOUND = 13566

__all__ = [
    "E_NOT_FOUND",
    "NumberFilter",
    "NumberRow",
    "location_number",
    "location_numbers",
    "location_of",
    "owned",
    "search",
    "site_of",
    "totals",
]


async def search(
    tx: Transaction, f: NumberFilter, *, offset: int, limit: int
) -> tuple[int, list[NumberRow]]:
    """(total matching, one page of them), in number order."""
    return await repo.search(tx, f, offset=offset, limit=limit)


async def totals(tx: Transaction, account_id: str) -> int:
    return await repo.totals(tx, account_id)


async def owned(tx: Transaction, account_id: str, tn: str) -> NumberRow:
    """The account's number `tn` (10 digits or E.164); NotFound 13566 for anything else."""
    try:
        e164 = phone.tn_to_e164(tn)
    except InvalidInput as exc:
        raise NotFound(f"Telephone number {tn} not found", code=E_NOT_FOUND) from exc
    row = await repo.get(tx, e164, account_id)
    if row is None:
        raise NotFound(f"Telephone number {tn} not found", code=E_NOT_FOUND)
    return row


async def location_numbers(
    tx: Transaction, account_id: str, site_id: str, peer_id: str, *, offset: int, limit: int
) -> tuple[PeerRow, list[NumberRow]]:
    """A location's numbers (the location must be the account's, under that site)."""
    peer = await prov.get_peer(tx, account_id, site_id, peer_id)
    _, rows = await repo.search(
        tx, NumberFilter(account_id=account_id, peer_id=peer.id), offset=offset, limit=limit
    )
    return peer, rows


async def location_number(
    tx: Transaction, account_id: str, site_id: str, peer_id: str, tn: str
) -> tuple[PeerRow, NumberRow]:
    """One number of a location: the account's, and on that location (else 13566)."""
    peer = await prov.get_peer(tx, account_id, site_id, peer_id)
    row = await owned(tx, account_id, tn)
    if row.peer_id != peer.id:
        raise NotFound(f"Telephone number {tn} is not on location {peer.id}", code=E_NOT_FOUND)
    return peer, row


async def site_of(tx: Transaction, account_id: str, tn: str) -> SiteRow:
    row = await owned(tx, account_id, tn)
    return await prov.get_site(tx, account_id, row.site_id)  # type: ignore[arg-type]


async def location_of(tx: Transaction, account_id: str, tn: str) -> PeerRow:
    row = await owned(tx, account_id, tn)
    peer = await prov.find_peer(tx, account_id, row.peer_id) if row.peer_id is not None else None
    if peer is None:
        raise NotFound(f"Telephone number {tn} has no location", code=E_NOT_FOUND)
    return peer
