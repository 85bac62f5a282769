"""SQL of messaging media: uploaded by users or stored from inbound MMS, kept for a while.

Expired rows are invisible to every read (the `expires_at > now` condition) before the periodic
sweep deletes them, so retention does not depend on the sweep's timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.schema import media

_c = media.c


@dataclass(frozen=True, slots=True)
class MediaRow:
    media_id: str
    content_type: str
    cache_control: str | None
    size: int
    content: bytes


async def put(
    conn: AsyncConnection,
    dialect: str,
    *,
    account_id: str,
    media_id: str,
    content: bytes,
    content_type: str,
    cache_control: str | None,
    at: datetime,
    expires_at: datetime,
) -> None:
    """Create or overwrite (Bandwidth: PUT overwrites), restarting the retention period."""
    values = {
        "account_id": account_id,
        "media_id": media_id,
        "content": content,
        "content_type": content_type,
        "cache_control": cache_control,
        "size": len(content),
        "created_at": at,
        "expires_at": expires_at,
    }
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(media).values(**values)
    keep = {k: ins.excluded[k] for k in values if k not in ("account_id", "media_id")}
    await conn.execute(
        ins.on_conflict_do_update(index_elements=["account_id", "media_id"], set_=keep)
    )


async def get(
    conn: AsyncConnection, account_id: str, media_id: str, at: datetime
) -> MediaRow | None:
    r = (
        await conn.execute(
            select(_c.media_id, _c.content_type, _c.cache_control, _c.size, _c.content).where(
                _c.account_id == account_id, _c.media_id == media_id, _c.expires_at > at
            )
        )
    ).first()
    return MediaRow(r[0], r[1], r[2], r[3], bytes(r[4])) if r else None


async def remove(conn: AsyncConnection, account_id: str, media_id: str, at: datetime) -> bool:
    result = await conn.execute(
        delete(media).where(
            _c.account_id == account_id, _c.media_id == media_id, _c.expires_at > at
        )
    )
    return result.rowcount == 1


async def list_page(
    conn: AsyncConnection, account_id: str, at: datetime, after: str | None, limit: int
) -> list[tuple[str, int]]:
    """(media_id, size) in id order, starting after `after` (the continuation token)."""
    q = select(_c.media_id, _c.size).where(_c.account_id == account_id, _c.expires_at > at)
    if after is not None:
        q = q.where(_c.media_id > after)
    rows = await conn.execute(q.order_by(_c.media_id).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def sweep(conn: AsyncConnection, at: datetime, limit: int = 1000) -> int:
    ids = select(_c.account_id, _c.media_id).where(_c.expires_at <= at).limit(limit)
    rows = [(r[0], r[1]) for r in await conn.execute(ids)]
    if not rows:
        return 0
    from sqlalchemy import tuple_

    result = await conn.execute(delete(media).where(tuple_(_c.account_id, _c.media_id).in_(rows)))
    return result.rowcount
