"""Messaging media: ids, URLs, stored file names, content types, and an account's media library
(the blob store behind it, per-account quotas, how an object may be served).

The bytes live in the blob store (store/blobs.py), never whole in memory: an upload is streamed
into it under the size cap and the account's room, a download streamed out of it. See
docs/security.md, "Media".
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from openband.clock import now
from openband.errors import Conflict, CoreError, InvalidInput, NotFound, TooLarge
from openband.store import media as media_repo
from openband.store import messages as messages_repo
from openband.store.blobs import BlobMissing, BlobStore, BlobTooLarge, chunks_of
from openband.store.db import Transaction

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.store.db import Database

log = logging.getLogger(__name__)

MAX_MEDIA_ID = 1024
MEDIA_PATH = re.compile(r"^(?:/api/v2)?/users/(?P<account>[^/]+)/media/(?P<media_id>.+)$")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE = 255  # the column's width
# Blobs no row names (a crash mid-upload) are looked for this often.
ORPHAN_SWEEP_SECONDS = 3600.0

# accounts.limits keys overriding Settings.media_quota_bytes / media_quota_count; 0 = none.
QUOTA_BYTES = "media_quota_bytes"
QUOTA_COUNT = "media_quota_count"

# RFC 9110 §8.3.1: media-type = type "/" subtype parameters, each a token; parameters are
# *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] ). Header values arrive as latin-1.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*"
)


_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]{0,255}")


class UnsupportedMediaType(CoreError):
    status = 415
    kind = "unsupported-content-type"


class MediaQuotaExceeded(Conflict):
    """The account's stored media would pass its quota (bytes or count)."""

    kind = "media-quota-exceeded"


def check_media_id(media_id: str) -> str:
    if not media_id or len(media_id) > MAX_MEDIA_ID:
        raise NotFound("Not Found")
    return media_id


def check_content_type(value: str | None) -> str:
    """An upload's Content-Type: a well-formed media type (RFC 9110), else 415. None or empty
    means the default, application/octet-stream."""
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > MAX_CONTENT_TYPE or not _MEDIA_TYPE.fullmatch(value):
        shown = value[:100].encode("unicode_escape").decode("ascii")
        raise UnsupportedMediaType(
            f"Content type '{shown}' is not a valid media type (type/subtype[; parameters])"
        )
    return value


def safe_content_type(value: str | None) -> str:
    """A received object's type (a handset's, a fetched URL's): kept when well formed, else
    application/octet-stream. Inbound media is never refused for its label."""
    try:
        return check_content_type(value)
    except UnsupportedMediaType:
        return DEFAULT_CONTENT_TYPE


def renders_inline(content_type: str) -> bool:
    """Whether a browser may show it in place: plain text, raster images, audio and video. Any
    other type (HTML, SVG, XML, scripts, PDF, text/* but plain, unknown ones) could run in or
    frame the API's origin, so it is served as an attachment."""
    mime = content_type.split(";", 1)[0].strip().lower()
    top, _, sub = mime.partition("/")
    if mime == "text/plain" or top in ("audio", "video"):
        return "xml" not in sub and "html" not in sub
    return top == "image" and not any(w in sub for w in ("svg", "xml", "html"))


def media_url(base: str, account_id: str, media_id: str) -> str:
    return f"{base}/api/v2/users/{quote(account_id, safe='')}/media/{quote(media_id, safe='/')}"


def safe_media_name(name: str, index: int) -> str:
    cleaned = (
        re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1]).strip("._") or f"media{index}"
    )
    return cleaned[:200]


@dataclass(frozen=True, slots=True)
class MediaQuota:
    """How much media an account may keep (None: no limit): Settings' defaults, overridden per
    account by accounts.limits (QUOTA_BYTES, QUOTA_COUNT; 0 there lifts the limit)."""

    bytes: int | None
    count: int | None

    @classmethod
    def of(cls, limits: dict[str, Any] | None, settings: Settings) -> MediaQuota:
        raw = limits or {}

        def pick(key: str, default: int) -> int | None:
            v = raw.get(key)
            n = default
            if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
                n = int(v)
            return n or None

        return cls(
            pick(QUOTA_BYTES, settings.media_quota_bytes),
            pick(QUOTA_COUNT, settings.media_quota_count),
        )

    def fits(self, count: int, size: int) -> bool:
        """Whether `count` objects of `size` bytes in all are within the quota."""
        return (self.count is None or count <= self.count) and (
            self.bytes is None or size <= self.bytes
        )

    def check(self, used: tuple[int, int], adding: int) -> int | None:
        """One more object of at least `adding` bytes on top of `used` (count, bytes), or
        MediaQuotaExceeded; the bytes left for it (None: no byte limit)."""
        count, size = used
        if not self.fits(count + 1, size + adding):
            raise MediaQuotaExceeded(self.describe(used))
        return None if self.bytes is None else self.bytes - size

    def describe(self, used: tuple[int, int]) -> str:
        count, size = used
        return (
            f"Media quota exceeded: the account stores {count} objects of "
            f"{'unlimited' if self.count is None else self.count} and {size} bytes of "
            f"{'unlimited' if self.bytes is None else self.bytes}"
        )


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """An object to serve: its metadata, whether it must be an attachment, and its bytes as a
    stream (opened: a deleted blob was already a 404)."""

    media_id: str
    content_type: str
    cache_control: str | None
    size: int
    attachment: bool
    filename: str
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class ReceivedMedia:
    """One object of an inbound message, to store for a recipient: bytes that arrived, or the
    blob of platform media (on-net MMS) to copy."""

    name: str
    content_type: str | None
    size: int
    content: bytes | None = None
    blob_ref: str | None = None


async def _legacy(content: bytes) -> AsyncIterator[bytes]:
    yield content


class MediaLibrary:
    """An account's media (Messaging v2 /media): uploads and inbound MMS, kept for
    `media_retention_hours` from their last write, within the account's quota."""

    def __init__(self, settings: Settings, db: Database, blobs: BlobStore) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self._orphans_at = 0.0  # monotonic time of the next orphan sweep

    def _expires(self, at: datetime) -> datetime:
        return at + timedelta(hours=self.settings.media_retention_hours)

    async def quota(self, conn: Transaction, account_id: str) -> MediaQuota:
        limits = await messages_repo.account_limits(conn, account_id)
        return MediaQuota.of(limits, self.settings)

    async def upload(
        self,
        account_id: str,
        media_id: str,
        chunks: AsyncIterable[bytes],
        content_type: str | None,
        cache_control: str | None,
        declared: int | None = None,
    ) -> None:
        """PUT /media: create or overwrite, streaming `chunks` into the blob store. Refused
        before a byte is read when the type is malformed (415), the declared length is over the
        cap (413) or the account's room (409); while streaming at whichever comes first."""
        check_media_id(media_id)
        ctype = check_content_type(content_type)
        if cache_control is not None and not _HEADER_VALUE.fullmatch(cache_control):
            # Stored and sent back as a header: visible characters only, in the column's width.
            raise InvalidInput("Cache-Control is not a valid header value", field="Cache-Control")
        cap = self.settings.media_max_bytes
        if declared is not None and declared > cap:
            raise TooLarge(f"media exceeds {cap} bytes")
        async with self.db.connect() as conn:
            quota = await self.quota(conn, account_id)
            room = quota.check(
                await media_repo.usage(conn, account_id, now(), excluding=media_id),
                declared or 0,
            )
        limit = cap if room is None else min(cap, room)
        try:
            blob = await self.blobs.put(chunks, limit)
        except BlobTooLarge:
            if limit < cap:
                raise MediaQuotaExceeded(
                    f"Media quota exceeded: the account has {limit} bytes left"
                ) from None
            raise TooLarge(f"media exceeds {cap} bytes") from None
        old: str | None = None
        try:
            async with self.db.begin() as conn:
                at = now()
                # Checked again under the account's lock: concurrent uploads cannot both fit.
                await media_repo.lock_account(conn, self.db.dialect, account_id)
                quota = await self.quota(conn, account_id)
                quota.check(
                    await media_repo.usage(conn, account_id, at, excluding=media_id), blob.size
                )
                old = await media_repo.blob_of(conn, account_id, media_id)
                await self.blobs.adopt(conn, blob.ref)
                await media_repo.put(
                    conn,
                    self.db.dialect,
                    account_id=account_id,
                    media_id=media_id,
                    blob_ref=blob.ref,
                    size=blob.size,
                    content_type=ctype,
                    cache_control=cache_control,
                    at=at,
                    expires_at=self._expires(at),
                )
                if old is not None:
                    await self.blobs.release(conn, [old])
        except BaseException:
            with contextlib.suppress(Exception):
                await self.blobs.discard(blob.ref)
            raise
        if old is not None:
            await self.blobs.reclaim([old])

    async def open(self, account_id: str, media_id: str) -> StoredMedia:
        """GET /media/{id}: the object and its bytes as a stream."""
        check_media_id(media_id)
        async with self.db.connect() as conn:
            row = await media_repo.get(conn, account_id, media_id, now())
        if row is None:
            raise NotFound("Not Found")
        if row.blob_ref is None:  # written before migration 0012
            chunks: AsyncIterator[bytes] = _legacy(row.content or b"")
        else:
            try:
                chunks = await self.blobs.open(row.blob_ref)
            except BlobMissing:  # deleted or overwritten since the row was read
                raise NotFound("Not Found") from None
        ctype = safe_content_type(row.content_type)
        return StoredMedia(
            media_id=row.media_id,
            content_type=ctype,
            cache_control=row.cache_control,
            size=row.size,
            attachment=not renders_inline(ctype),
            filename=safe_media_name(row.media_id, 0),
            chunks=chunks,
        )

    async def check_room(self, account_id: str, count: int, size: int) -> None:
        """MediaQuotaExceeded unless `count` more objects of `size` bytes in all would fit
        (a handset's MMS to the account, refused before it is stored)."""
        if count == 0:
            return
        async with self.db.connect() as conn:
            quota = await self.quota(conn, account_id)
            used = await media_repo.usage(conn, account_id, now())
        if not quota.fits(used[0] + count, used[1] + size):
            raise MediaQuotaExceeded(quota.describe(used))

    async def store_received(
        self,
        conn: Transaction,
        account_id: str,
        message_id: str,
        items: Sequence[ReceivedMedia],
        at: datetime,
    ) -> list[str | None]:
        """A recipient's copies of an inbound message's media, in the caller's transaction:
        per item its media id, or None for an item not stored (beyond the account's quota, or
        platform media deleted meanwhile). The message is delivered either way: a carrier's
        hand-off is never refused for one recipient's storage."""
        quota = await self.quota(conn, account_id)
        count, size = await media_repo.usage(conn, account_id, at)
        out: list[str | None] = []
        for index, item in enumerate(items):
            if not quota.fits(count + 1, size + item.size):
                log.warning(
                    "media of inbound message %s not stored: %s",
                    message_id,
                    quota.describe((count, size)),
                )
                out.append(None)
                continue
            try:
                if item.blob_ref is not None:
                    ref = await self.blobs.copy(conn, item.blob_ref)
                else:
                    blob = await self.blobs.put(
                        chunks_of(item.content or b""), item.size, conn=conn
                    )
                    ref = blob.ref
            except BlobMissing:
                out.append(None)
                continue
            media_id = f"{message_id}/{index}/{safe_media_name(item.name, index)}"
            await media_repo.put(
                conn,
                self.db.dialect,
                account_id=account_id,
                media_id=media_id,
                blob_ref=ref,
                size=item.size,
                content_type=safe_content_type(item.content_type),
                cache_control=None,
                at=at,
                expires_at=self._expires(at),
            )
            count, size = count + 1, size + item.size
            out.append(media_id)
        return out

    async def received_source(
        self, conn: Transaction, account_id: str, media_id: str, at: datetime
    ) -> ReceivedMedia | None:
        """Platform media named in an on-net MMS, as what its recipients copy."""
        row = await media_repo.get(conn, account_id, media_id, at)
        if row is None:
            return None
        return ReceivedMedia(
            name=media_id.rsplit("/", 1)[-1],
            content_type=row.content_type,
            size=row.size,
            content=row.content,
            blob_ref=row.blob_ref,
        )

    async def delete(self, account_id: str, media_id: str) -> None:
        check_media_id(media_id)
        async with self.db.begin() as conn:
            gone, ref = await media_repo.remove(conn, account_id, media_id, now())
            if ref is not None:
                await self.blobs.release(conn, [ref])
        if not gone:
            raise NotFound("Not Found")
        if ref is not None:
            await self.blobs.reclaim([ref])

    async def page(
        self, account_id: str, after: str | None, limit: int
    ) -> tuple[list[tuple[str, int]], bool]:
        """(media id, size) in id order after `after`, and whether more follow."""
        async with self.db.connect() as conn:
            rows = await media_repo.list_page(conn, account_id, now(), after, limit + 1)
        return rows[:limit], len(rows) > limit

    async def sweep(self, batch: int = 1000) -> int:
        """Delete expired media and their blobs (reads never see it already), a batch per
        short transaction; once an hour, blobs a crash left without a row. How many rows."""
        total = 0
        while True:
            async with self.db.begin() as conn:
                n, refs = await media_repo.sweep(conn, now(), batch)
                await self.blobs.release(conn, refs)
            await self.blobs.reclaim(refs)
            total += n
            if n < batch:
                break
        if time.monotonic() >= self._orphans_at:
            self._orphans_at = time.monotonic() + ORPHAN_SWEEP_SECONDS
            await self.sweep_orphans()
        return total

    async def sweep_orphans(self) -> int:
        """Blobs no row names, older than the store's grace period; how many were deleted."""
        removed = await self.blobs.sweep(media_repo.named_blobs)
        if removed:
            log.info("media: %d abandoned blobs deleted", removed)
        return removed
