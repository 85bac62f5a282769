"""Queries on applications, sites and SIP peers (locations).

Every lookup is scoped to an account: another account's ids are simply not found. Mutations that
must see a stable parent (one default peer per site, "no peers left" on delete) lock the parent row
with FOR UPDATE; SQLite ignores the clause but serialises writers with BEGIN IMMEDIATE anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store import versions
from openband.store.schema import applications, phone_numbers, sip_peers, sites

# Nullable JSON columns: Python None must become SQL NULL, not the JSON literal 'null'.
_NULLABLE_JSON = {"sms_feature", "mms_feature", "origination", "address"}


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (null() if v is None and k in _NULLABLE_JSON else v) for k, v in values.items()}


@dataclass(frozen=True)
class ApplicationRow:
    id: str
    account_id: str
    service_type: str
    name: str
    config: dict
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SiteRow:
    id: int
    account_id: str
    name: str
    description: str | None
    customer_name: str | None
    customer_provided_id: str | None
    address: dict | None
    extra: dict
    created_at: datetime


@dataclass(frozen=True)
class PeerRow:
    id: int
    site_id: int
    account_id: str
    name: str
    description: str | None
    is_default: bool
    sms_feature: dict | None
    mms_feature: dict | None
    messaging_app_id: str | None
    voice_app_id: str | None
    origination: dict | None
    # Echoed elements (Address, CallingName, BillingIdentifier...), not read by any engine.
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AssociatedPeer:
    site_id: int
    site_name: str
    peer_id: int
    peer_name: str


def _app(row: Any) -> ApplicationRow:
    m = row._mapping
    return ApplicationRow(
        id=m["id"],
        account_id=m["account_id"],
        service_type=m["service_type"],
        name=m["name"],
        config=dict(m["config"] or {}),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _site(row: Any) -> SiteRow:
    m = row._mapping
    return SiteRow(
        id=int(m["id"]),
        account_id=m["account_id"],
        name=m["name"],
        description=m["description"],
        customer_name=m["customer_name"],
        customer_provided_id=m["customer_provided_id"],
        address=m["address"],
        extra=dict(m["extra"] or {}),
        created_at=m["created_at"],
    )


def _peer(row: Any) -> PeerRow:
    m = row._mapping
    return PeerRow(
        id=int(m["id"]),
        site_id=int(m["site_id"]),
        account_id=m["account_id"],
        name=m["name"],
        description=m["description"],
        is_default=bool(m["is_default"]),
        sms_feature=m["sms_feature"],
        mms_feature=m["mms_feature"],
        messaging_app_id=m["messaging_app_id"],
        voice_app_id=m["voice_app_id"],
        origination=m["origination"],
        extra=dict(m["extra"] or {}),
    )


# --- applications ------------------------------------------------------------------------------


async def insert_application(
    conn: AsyncConnection, app_id: str, account_id: str, service_type: str, name: str, config: dict
) -> None:
    ts = now()
    await conn.execute(
        applications.insert().values(
            id=app_id,
            account_id=account_id,
            service_type=service_type,
            name=name,
            config=config,
            created_at=ts,
            updated_at=ts,
        )
    )


async def get_application(
    conn: AsyncConnection, account_id: str, app_id: str, *, lock: bool = False
) -> ApplicationRow | None:
    q = select(applications).where(
        applications.c.id == app_id, applications.c.account_id == account_id
    )
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return _app(row) if row else None


async def list_applications(conn: AsyncConnection, account_id: str) -> list[ApplicationRow]:
    q = (
        select(applications)
        .where(applications.c.account_id == account_id)
        .order_by(applications.c.created_at, applications.c.id)
    )
    return [_app(r) for r in (await conn.execute(q)).all()]


async def update_application(
    conn: AsyncConnection, app_id: str, service_type: str, name: str, config: dict
) -> None:
    await conn.execute(
        update(applications)
        .where(applications.c.id == app_id)
        .values(service_type=service_type, name=name, config=config, updated_at=now())
    )
    await versions.bump(conn)  # its callbacks are cached on every node


async def delete_application(conn: AsyncConnection, app_id: str) -> None:
    await conn.execute(delete(applications).where(applications.c.id == app_id))
    await versions.bump(conn)


async def peers_using_application(
    conn: AsyncConnection, account_id: str, app_id: str
) -> list[AssociatedPeer]:
    q = (
        select(sip_peers.c.id, sip_peers.c.name, sites.c.id.label("sid"), sites.c.name.label("sn"))
        .join(sites, sites.c.id == sip_peers.c.site_id)
        .where(
            sip_peers.c.account_id == account_id,
            or_(sip_peers.c.messaging_app_id == app_id, sip_peers.c.voice_app_id == app_id),
        )
        .order_by(sip_peers.c.id)
    )
    return [
        AssociatedPeer(int(r.sid), r.sn, int(r.id), r.name) for r in (await conn.execute(q)).all()
    ]


# --- sites -------------------------------------------------------------------------------------


async def insert_site(conn: AsyncConnection, account_id: str, values: dict[str, Any]) -> int:
    ts = now()
    result = await conn.execute(
        sites.insert()
        .values(account_id=account_id, created_at=ts, updated_at=ts, **_values(values))
        .returning(sites.c.id)
    )
    return int(result.scalar_one())


async def get_site(
    conn: AsyncConnection, account_id: str, site_id: int, *, lock: bool = False
) -> SiteRow | None:
    q = select(sites).where(sites.c.id == site_id, sites.c.account_id == account_id)
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return _site(row) if row else None


async def list_sites(conn: AsyncConnection, account_id: str) -> list[SiteRow]:
    q = select(sites).where(sites.c.account_id == account_id).order_by(sites.c.id)
    return [_site(r) for r in (await conn.execute(q)).all()]


async def update_site(conn: AsyncConnection, site_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        update(sites).where(sites.c.id == site_id).values(updated_at=now(), **_values(values))
    )


async def delete_site(conn: AsyncConnection, site_id: int) -> None:
    await conn.execute(delete(sites).where(sites.c.id == site_id))


async def site_has_peers(conn: AsyncConnection, site_id: int) -> bool:
    q = select(exists().where(sip_peers.c.site_id == site_id))
    return bool((await conn.execute(q)).scalar())


async def site_has_numbers(conn: AsyncConnection, site_id: int) -> bool:
    q = select(exists().where(phone_numbers.c.site_id == site_id))
    return bool((await conn.execute(q)).scalar())


# --- SIP peers ---------------------------------------------------------------------------------


async def insert_peer(
    conn: AsyncConnection, account_id: str, site_id: int, values: dict[str, Any]
) -> int:
    ts = now()
    result = await conn.execute(
        sip_peers.insert()
        .values(
            account_id=account_id, site_id=site_id, created_at=ts, updated_at=ts, **_values(values)
        )
        .returning(sip_peers.c.id)
    )
    return int(result.scalar_one())


async def get_peer(
    conn: AsyncConnection,
    account_id: str,
    peer_id: int,
    site_id: int | None = None,
    *,
    lock: bool = False,
) -> PeerRow | None:
    q = select(sip_peers).where(sip_peers.c.id == peer_id, sip_peers.c.account_id == account_id)
    if site_id is not None:
        q = q.where(sip_peers.c.site_id == site_id)
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return _peer(row) if row else None


async def list_peers(conn: AsyncConnection, account_id: str, site_id: int) -> list[PeerRow]:
    q = (
        select(sip_peers)
        .where(sip_peers.c.account_id == account_id, sip_peers.c.site_id == site_id)
        .order_by(sip_peers.c.id)
    )
    return [_peer(r) for r in (await conn.execute(q)).all()]


async def default_peer(conn: AsyncConnection, account_id: str, site_id: int) -> PeerRow | None:
    q = (
        select(sip_peers)
        .where(
            sip_peers.c.account_id == account_id,
            sip_peers.c.site_id == site_id,
            sip_peers.c.is_default.is_(True),
        )
        .order_by(sip_peers.c.id)
        .limit(1)
    )
    row = (await conn.execute(q)).first()
    return _peer(row) if row else None


async def count_peers(conn: AsyncConnection, site_id: int) -> int:
    q = select(func.count()).select_from(sip_peers).where(sip_peers.c.site_id == site_id)
    return int((await conn.execute(q)).scalar_one())


async def update_peer(conn: AsyncConnection, peer_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        update(sip_peers)
        .where(sip_peers.c.id == peer_id)
        .values(updated_at=now(), **_values(values))
    )
    await versions.bump(conn)  # its messaging products and application are cached


async def clear_default(conn: AsyncConnection, site_id: int, except_peer: int) -> None:
    await conn.execute(
        update(sip_peers)
        .where(
            sip_peers.c.site_id == site_id,
            sip_peers.c.id != except_peer,
            sip_peers.c.is_default.is_(True),
        )
        .values(is_default=False, updated_at=now())
    )


async def delete_peer(conn: AsyncConnection, peer_id: int) -> None:
    await conn.execute(delete(sip_peers).where(sip_peers.c.id == peer_id))
    await versions.bump(conn)


async def peer_has_numbers(conn: AsyncConnection, peer_id: int) -> bool:
    q = select(exists().where(phone_numbers.c.peer_id == peer_id))
    return bool((await conn.execute(q)).scalar())
