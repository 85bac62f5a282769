"""Queries on accounts and credentials."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store.schema import accounts, credentials


@dataclass(frozen=True)
class CredentialRow:
    account_id: str
    kind: str
    principal: str
    secret_hash: str


@dataclass(frozen=True)
class AccountRow:
    id: str
    name: str
    v1_user_id: str | None
    limits: dict
    created_at: object


async def get_account(conn: AsyncConnection, account_id: str) -> AccountRow | None:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    return AccountRow(**row._mapping) if row else None


async def get_account_by_v1_user(conn: AsyncConnection, user_id: str) -> AccountRow | None:
    row = (await conn.execute(select(accounts).where(accounts.c.v1_user_id == user_id))).first()
    return AccountRow(**row._mapping) if row else None


async def list_accounts(conn: AsyncConnection) -> list[tuple[AccountRow, list[str]]]:
    rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).all()
    creds = (
        await conn.execute(
            select(credentials.c.account_id, credentials.c.kind, credentials.c.principal)
        )
    ).all()
    by_acct: dict[str, list[str]] = {}
    for c in creds:
        by_acct.setdefault(c.account_id, []).append(f"{c.kind}:{c.principal}")
    return [(AccountRow(**r._mapping), by_acct.get(r.id, [])) for r in rows]


async def count_accounts(conn: AsyncConnection) -> int:
    return len((await conn.execute(select(accounts.c.id).limit(1))).all())


async def insert_account(
    conn: AsyncConnection, account_id: str, name: str, v1_user_id: str | None, limits: dict
) -> None:
    await conn.execute(
        accounts.insert().values(
            id=account_id, name=name, v1_user_id=v1_user_id, limits=limits, created_at=now()
        )
    )


async def get_credential(conn: AsyncConnection, kind: str, principal: str) -> CredentialRow | None:
    row = (
        await conn.execute(
            select(
                credentials.c.account_id,
                credentials.c.kind,
                credentials.c.principal,
                credentials.c.secret_hash,
            ).where(credentials.c.kind == kind, credentials.c.principal == principal)
        )
    ).first()
    return CredentialRow(**row._mapping) if row else None


async def insert_credential(
    conn: AsyncConnection, account_id: str, kind: str, principal: str, secret_hash: str
) -> None:
    ts = now()
    await conn.execute(
        credentials.insert().values(
            account_id=account_id,
            kind=kind,
            principal=principal,
            secret_hash=secret_hash,
            created_at=ts,
            updated_at=ts,
        )
    )


async def update_secret(conn: AsyncConnection, kind: str, principal: str, secret_hash: str) -> None:
    await conn.execute(
        update(credentials)
        .where(credentials.c.kind == kind, credentials.c.principal == principal)
        .values(secret_hash=secret_hash, updated_at=now())
    )
