"""Messaging media: ids, URLs, stored file names, and an account's media library."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from openband.clock import now
from openband.errors import NotFound
from openband.store import media as media_repo
from openband.store.media import MediaRow

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.store.db import Database

MAX_MEDIA_ID = 1024
MEDIA_PATH = re.compile(r"^(?:/api/v2)?/users/(?P<account>[^/]+)/media/(?P<media_id>.+)$")


def check_media_id(media_id: str) -> str:
    if not media_id or len(media_id) > MAX_MEDIA_ID:
        raise NotFound("Not Found")
    return media_id


def media_url(base: str, account_id: str, media_id: str) -> str:
    return f"{base}/api/v2/users/{quote(account_id, safe='')}/media/{quote(media_id, safe='/')}"


def safe_media_name(name: str, index: int) -> str:
    cleaned = (
        re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1]).strip("._") or f"media{index}"
    )
    return cleaned[:200]


class MediaLibrary:
    """An account's media (Messaging v2 /media): uploads and inbound MMS, kept for
    `media_retention_hours` from their last write."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    async def put(
        self,
        account_id: str,
        media_id: str,
        content: bytes,
        content_type: str | None,
        cache_control: str | None,
    ) -> None:
        check_media_id(media_id)
        at = now()
        async with self.db.begin() as conn:
            await media_repo.put(
                conn,
                self.db.dialect,
                account_id=account_id,
                media_id=media_id,
                content=content,
                content_type=content_type or "application/octet-stream",
                cache_control=cache_control,
                at=at,
                expires_at=at + timedelta(hours=self.settings.media_retention_hours),
            )

    async def get(self, account_id: str, media_id: str) -> MediaRow:
        check_media_id(media_id)
        async with self.db.connect() as conn:
            row = await media_repo.get(conn, account_id, media_id, now())
        if row is None:
            raise NotFound("Not Found")
        return row

    async def delete(self, account_id: str, media_id: str) -> None:
        check_media_id(media_id)
        async with self.db.begin() as conn:
            gone = await media_repo.remove(conn, account_id, media_id, now())
        if not gone:
            raise NotFound("Not Found")

    async def page(
        self, account_id: str, after: str | None, limit: int
    ) -> tuple[list[tuple[str, int]], bool]:
        """(media id, size) in id order after `after`, and whether more follow."""
        async with self.db.connect() as conn:
            rows = await media_repo.list_page(conn, account_id, now(), after, limit + 1)
        return rows[:limit], len(rows) > limit

    async def sweep(self) -> int:
        """Delete expired media (reads never see it already)."""
        async with self.db.begin() as conn:
            return await media_repo.sweep(conn, now())
