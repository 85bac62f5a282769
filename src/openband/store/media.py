"""SQL of messaging media: uploaded by users or stored from inbound MMS, kept for a while.

A row holds the metadata and names its bytes in the blob store (`blob_ref`, store/blobs.py);
rows written before migration 0012 hold the bytes themselves (`content`) until they expire.
Expired rows are invisible to every read (the `expires_at > now` condition) before the periodic
sweep deletes them, so retention does not depend on the sweep's timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.schema import call_recordings, media

_c = media.c


@dataclass(frozen=True, slots=True)
class MediaRow:
    media_id: str
    content_type: str
    cache_control: str | None
    size: int
    blob_ref: str | None
    content: bytes | None  # rows written before migration 0012 only


async def lock_account(conn: AsyncConnection, dialect: str, account_id: str) -> None:
    """Serialise an account's media writes to the end of the transaction (its quota is read
    and then written). SQLite's writing transactions are serial already."""
    if dialect == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"openband.media:{account_id}"},
        )


async def put(
    conn: AsyncConnection,
    dialect: str,
    *,
    account_id: str,
    media_id: str,
    blob_ref: str,
    size: int,
    content_type: str,
    cache_control: str | None,
    at: datetime,
    expires_at: datetime,
) -> None:
    """Create or overwrite (Bandwidth: PUT overwrites), restarting the retention period. The
    caller releases the blob an overwritten row named (`blob_of` first)."""
    values = {
        "account_id": account_id,
        "media_id": media_id,
        "blob_ref": blob_ref,
        "content": None,
        "content_type": content_type,
        "cache_control": cache_control,
        "size": size,
        "created_at": at,
        "expires_at": expires_at,
    }
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(media).values(**values)
    keep = {k: ins.excluded[k] for k in values if k not in ("account_id", "media_id")}
    await conn.execute(
        ins.on_conflict_do_update(index_elements=["account_id", "media_id"], set_=keep)
    )


async def blob_of(conn: AsyncConnection, account_id: str, media_id: str) -> str | None:
    """The blob a row names, expired or not (an overwrite releases it)."""
    return (
        await conn.execute(
            select(_c.blob_ref).where(_c.account_id == account_id, _c.media_id == media_id)
        )
    ).scalar_one_or_none()


async def get(
    conn: AsyncConnection, account_id: str, media_id: str, at: datetime
) -> MediaRow | None:
    r = (
        await conn.execute(
            select(
                _c.media_id,
                _c.content_type,
                _c.cache_control,
                _c.size,
                _c.blob_ref,
                _c.content,
            ).where(_c.account_id == account_id, _c.media_id == media_id, _c.expires_at > at)
        )
    ).first()
    if r is None:
        return None
    return MediaRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5]) if r[5] is not None else None)


async def exists(conn: AsyncConnection, account_id: str, media_id: str, at: datetime) -> bool:
    q = select(_c.size).where(
        _c.account_id == account_id, _c.media_id == media_id, _c.expires_at > at
    )
    return (await conn.execute(q)).first() is not None


async def remove(
    conn: AsyncConnection, account_id: str, media_id: str, at: datetime
) -> tuple[bool, str | None]:
    """(whether a visible row was deleted, the blob it named)."""
    r = (
        await conn.execute(
            delete(media)
            .where(_c.account_id == account_id, _c.media_id == media_id, _c.expires_at > at)
            .returning(_c.blob_ref)
        )
    ).first()
    return (r is not None, r[0] if r is not None else None)


async def usage(
    conn: AsyncConnection, account_id: str, at: datetime, *, excluding: str | None = None
) -> tuple[int, int]:
    """(count, bytes) of the account's visible media, `excluding` one id (being overwritten)."""
    q = select(func.count(), func.coalesce(func.sum(_c.size), 0)).where(
        _c.account_id == account_id, _c.expires_at > at
    )
    if excluding is not None:
        q = q.where(_c.media_id != excluding)
    r = (await conn.execute(q)).one()
    return int(r[0]), int(r[1])


async def list_page(
    conn: AsyncConnection, account_id: str, at: datetime, after: str | None, limit: int
) -> list[tuple[str, int]]:
    """(media_id, size) in id order, starting after `after` (the continuation token)."""
    q = select(_c.media_id, _c.size).where(_c.account_id == account_id, _c.expires_at > at)
    if after is not None:
        q = q.where(_c.media_id > after)
    rows = await conn.execute(q.order_by(_c.media_id).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def sweep(conn: AsyncConnection, at: datetime, limit: int = 1000) -> tuple[int, list[str]]:
    """Delete up to `limit` expired rows: (how many, the blobs they named)."""
    ids = select(_c.account_id, _c.media_id, _c.blob_ref).where(_c.expires_at <= at).limit(limit)
    rows = [(r[0], r[1], r[2]) for r in await conn.execute(ids)]
    if not rows:
        return 0, []
    keys = [(a, m) for a, m, _ in rows]
    result = await conn.execute(delete(media).where(tuple_(_c.account_id, _c.media_id).in_(keys)))
    return result.rowcount, [ref for _, _, ref in rows if ref is not None]


async def named_blobs(conn: AsyncConnection, refs: list[str]) -> set[str]:
    """Which of `refs` a row names (the blob store's orphan sweep): media and call recordings
    share the store."""
    if not refs:
        return set()
    rec = call_recordings.c.blob_ref
    rows = await conn.execute(
        select(_c.blob_ref).where(_c.blob_ref.in_(refs)).union(select(rec).where(rec.in_(refs)))
    )
    return {r[0] for r in rows}
