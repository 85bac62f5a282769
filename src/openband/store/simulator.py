"""The simulated network's tables: handset scripts (sim_handsets: each account's own, and the
operator's platform-wide defaults) and what each handset received and sent
(sim_handset_messages, the simulator's observable record).

A handset message row's `direction` says what it is: "received" and "sent" are what a user
sees; "pending" (to be received), "failing" (to be failed) and "outbox" (an auto-reply to be
sent) hold the state of a timer the simulator set, and are never listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.store.db import insert_rows
from openband.store.schema import sim_handset_messages as hm
from openband.store.schema import sim_handsets

RECEIVED, SENT = "received", "sent"
PENDING, FAILING, OUTBOX = "pending", "failing", "outbox"
VISIBLE = (RECEIVED, SENT)
_CHUNK = 500  # bound parameters per lookup


# --- scripts ---------------------------------------------------------------------------------

# The operator's platform-wide default scripts are stored under this account id.
PLATFORM = ""


async def script(conn: AsyncConnection, account_id: str, tn: str) -> dict[str, Any] | None:
    """The handset's script for `account_id` ("": the platform default) as stored, or None."""
    row = (
        await conn.execute(
            select(sim_handsets.c.behaviour).where(
                sim_handsets.c.account_id == account_id, sim_handsets.c.number == tn
            )
        )
    ).first()
    return row.behaviour if row else None


async def scripts(
    conn: AsyncConnection, account_ids: Iterable[str], tns: Iterable[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(account id, number) -> script, for these accounts (include PLATFORM for the defaults)
    and numbers, in a few queries; unscripted pairs are absent."""
    accounts = list(set(account_ids))
    tns = list(tns)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(0, len(tns), _CHUNK):
        rows = await conn.execute(
            select(sim_handsets.c.account_id, sim_handsets.c.number, sim_handsets.c.behaviour)
            .where(sim_handsets.c.number.in_(tns[i : i + _CHUNK]))
            .where(sim_handsets.c.account_id.in_(accounts))
        )
        out.update({(account, number): behaviour for account, number, behaviour in rows})
    return out


async def list_scripts(conn: AsyncConnection, account_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(number, script) of every handset `account_id` scripted, in number order."""
    rows = await conn.execute(
        select(sim_handsets.c.number, sim_handsets.c.behaviour)
        .where(sim_handsets.c.account_id == account_id)
        .order_by(sim_handsets.c.number)
    )
    return [(number, behaviour) for number, behaviour in rows]


async def put_script(
    conn: AsyncConnection, account_id: str, tn: str, behaviour: dict[str, Any]
) -> None:
    at = now()
    ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(sim_handsets)
    await conn.execute(
        ins.values(
            account_id=account_id, number=tn, behaviour=behaviour, updated_at=at
        ).on_conflict_do_update(
            index_elements=["account_id", "number"],
            set_={"behaviour": behaviour, "updated_at": at},
        )
    )


async def delete_script(conn: AsyncConnection, account_id: str, tn: str) -> bool:
    result = await conn.execute(
        delete(sim_handsets).where(
            sim_handsets.c.account_id == account_id, sim_handsets.c.number == tn
        )
    )
    return result.rowcount > 0


# --- the handsets' record --------------------------------------------------------------------


@dataclass(frozen=True)
class HandsetMessage:
    id: int
    handset: str
    direction: str
    peer: str  # the platform number on the other side
    account_id: str  # the account owning `peer`
    message_id: str | None
    text: str
    media: list[Any]
    segments: list[str]
    at: datetime


# Not frozen (a frozen __init__ pays per field; one per message sent): treat as immutable.
@dataclass(slots=True)
class NewHandsetMessage:
    handset: str
    direction: str
    peer: str
    account_id: str
    message_id: str | None
    text: str
    media: list[Any]
    segments: list[str]

    def row(self, at: datetime) -> dict[str, Any]:
        return {
            "handset": self.handset,
            "direction": self.direction,
            "peer": self.peer,
            "account_id": self.account_id,
            "message_id": self.message_id,
            "text": self.text,
            "media": self.media,
            "segments": self.segments,
            "at": at,
        }


async def record(conn: AsyncConnection, message: NewHandsetMessage) -> int:
    """Write one row; returns its id (what a timer's ref names)."""
    result = await conn.execute(hm.insert().values(**message.row(now())).returning(hm.c.id))
    return int(result.scalar_one())


async def record_many(conn: AsyncConnection, messages: list[NewHandsetMessage]) -> None:
    at = now()
    await insert_rows(conn, hm, [m.row(at) for m in messages])


async def get(conn: AsyncConnection, row_id: int) -> HandsetMessage | None:
    row = (await conn.execute(select(hm).where(hm.c.id == row_id))).first()
    return HandsetMessage(**row._mapping) if row else None


async def move(
    conn: AsyncConnection, row_id: int, direction: str, message_id: str | None = None
) -> None:
    """Set a row's direction (a timer came due), and its message id when it now has one."""
    values: dict[str, Any] = {"direction": direction, "at": now()}
    if message_id is not None:
        values["message_id"] = message_id
    await conn.execute(update(hm).where(hm.c.id == row_id).values(**values))


async def remove(conn: AsyncConnection, row_id: int) -> None:
    await conn.execute(delete(hm).where(hm.c.id == row_id))


async def listing(
    conn: AsyncConnection,
    handset: str,
    account_id: str,
    *,
    direction: str | None = None,
    since: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[HandsetMessage]:
    """The handset's traffic with `account_id`'s numbers, oldest first (the newest `limit`)."""
    conds = [hm.c.handset == handset, hm.c.account_id == account_id]
    conds.append(hm.c.direction == direction if direction else hm.c.direction.in_(VISIBLE))
    if since is not None:
        # Exclusive at the millisecond, the resolution of the times we write: passing a row's
        # `time` back does not return that row again.
        floor = since.replace(microsecond=since.microsecond // 1000 * 1000)
        conds.append(hm.c.at >= floor + timedelta(milliseconds=1))
    if after_id is not None:
        conds.append(hm.c.id > after_id)
    q = select(hm).where(*conds).order_by(hm.c.at.desc(), hm.c.id.desc()).limit(limit)
    rows = [HandsetMessage(**r._mapping) for r in (await conn.execute(q)).all()]
    rows.reverse()
    return rows
