"""Where media bytes live: one blob-store interface, two backends.

- `FileBlobs` (SQLite's default): a file per blob in a directory beside the database file
  (`<db>.media/`, or `media_dir`). Names are random (never derived from user input); a blob is
  written to `tmp/` and renamed into place once complete and synced, so a reader never sees a
  partial file. Copies are hard links: blobs are never changed in place.
- `PgBlobs` (PostgreSQL): large objects through the lo_* server functions, in pieces of CHUNK
  bytes, reachable from every node on the database.

A blob is written from an async stream of chunks under a byte cap (`BlobTooLarge` the moment
the stream passes it; nothing of the stream is kept beyond one piece) and read back as a stream.

Which rows name which blobs is the caller's (store/media). The life of a blob:
- `put(chunks, cap, conn)` inside a transaction belongs to it (a large object is rolled back with
  it; a file is left to the sweep). `put(chunks, cap)` outside any transaction (a streamed upload
  must not hold one open) is pending until the row that names it is written with `adopt(conn,
  ref)` in that row's transaction, or dropped with `discard(ref)`.
- A row that stops naming a blob: `release(conn, refs)` in its transaction, `reclaim(refs)` after
  the commit. A large object is unlinked in the transaction (undone with it); a file is removed
  after the commit, so a rolled-back delete never loses bytes.
- `sweep(named)` deletes what a crash left: pending large objects older than the grace period
  (table blob_uploads), and files older than it that no row names (a directory scan).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import LargeBinary

from openband.clock import now
from openband.store.db import Database
from openband.store.schema import blob_uploads

# The piece a blob is written and read in: what one upload holds in memory at most (plus the
# chunk being received), and one lo_put/lo_get round trip.
CHUNK = 256 * 1024
# A blob nobody names is left alone this long (an upload may still be writing it).
ORPHAN_GRACE_SECONDS = 3600.0
# Refs checked against the rows per query in a sweep.
_SWEEP_BATCH = 500

# Which of `refs` rows name (store/media.named_blobs), asked on the given connection.
Named = Callable[[AsyncConnection, list[str]], Awaitable[set[str]]]


class BlobTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(f"blob exceeds {cap} bytes")
        self.cap = cap


class BlobMissing(Exception):
    """The blob is gone (deleted meanwhile, or swept as abandoned)."""


@dataclass(frozen=True, slots=True)
class Blob:
    ref: str
    size: int


async def chunks_of(data: bytes) -> AsyncIterator[memoryview]:
    """Bytes already in memory, as the stream `put` takes (views: no copies)."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield view[start : start + CHUNK]


class BlobStore(ABC):
    kind: str

    @abstractmethod
    async def put(
        self,
        chunks: AsyncIterable[bytes | memoryview],
        cap: int,
        conn: AsyncConnection | None = None,
    ) -> Blob:
        """Write a new blob from `chunks`; BlobTooLarge (and nothing kept) beyond `cap` bytes."""

    @abstractmethod
    async def adopt(self, conn: AsyncConnection, ref: str) -> None:
        """In the transaction that writes the row naming a pending blob. BlobMissing when the
        sweep took it meanwhile (an upload slower than the grace period)."""

    @abstractmethod
    async def discard(self, ref: str) -> None:
        """A pending blob no row will name."""

    @abstractmethod
    async def copy(self, conn: AsyncConnection, ref: str) -> str:
        """A new blob with `ref`'s bytes, part of `conn`'s transaction. BlobMissing if gone."""

    @abstractmethod
    async def open(self, ref: str, conn: AsyncConnection | None = None) -> AsyncIterator[bytes]:
        """The blob's bytes in pieces; BlobMissing now (not mid-stream) when it is gone."""

    @abstractmethod
    async def release(self, conn: AsyncConnection, refs: Sequence[str]) -> None:
        """In the transaction that stops naming `refs`; call `reclaim` after its commit."""

    @abstractmethod
    async def reclaim(self, refs: Sequence[str]) -> None:
        """After the commit of the transaction that released `refs`."""

    @abstractmethod
    async def sweep(self, named: Named) -> int:
        """Delete blobs a crash left behind; how many."""


# --- files beside the SQLite database ----------------------------------------------------------

_FILE_REF = re.compile(r"[0-9a-f]{32}")


class FileBlobs(BlobStore):
    kind = "files"

    def __init__(
        self, directory: Path, db: Database, *, grace_seconds: float = ORPHAN_GRACE_SECONDS
    ) -> None:
        self.root = directory
        self.db = db
        self.grace_seconds = grace_seconds
        self.tmp = directory / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # media is the accounts' data: the owner's only
            os.chmod(directory, 0o700)

    def path(self, ref: str) -> Path:
        if not _FILE_REF.fullmatch(ref):  # refs come from rows only; never trust one blindly
            raise BlobMissing(ref)
        return self.root / ref[:2] / ref

    async def put(
        self,
        chunks: AsyncIterable[bytes | memoryview],
        cap: int,
        conn: AsyncConnection | None = None,
    ) -> Blob:
        ref = secrets.token_hex(16)
        part = self.tmp / f"{ref}.part"
        size = 0
        try:
            with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > cap:
                        raise BlobTooLarge(cap)
                    f.write(chunk)  # into the page cache: no waiting on the disk here
                f.flush()
                await asyncio.to_thread(self._settle, f.fileno(), part, self.path(ref))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise
        return Blob(ref, size)

    @staticmethod
    def _settle(fd: int, part: Path, final: Path) -> None:
        """Synced, then renamed into place (and the rename synced): all of it or nothing."""
        os.fsync(fd)
        final.parent.mkdir(exist_ok=True, mode=0o700)
        os.replace(part, final)
        dirfd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    async def adopt(self, conn: AsyncConnection, ref: str) -> None:
        if not self.path(ref).exists():
            raise BlobMissing(ref)

    async def discard(self, ref: str) -> None:
        await self.reclaim([ref])

    async def copy(self, conn: AsyncConnection, ref: str) -> str:
        new = secrets.token_hex(16)
        src, dst = self.path(ref), self.path(new)
        dst.parent.mkdir(exist_ok=True, mode=0o700)
        try:
            os.link(src, dst)  # the same bytes under a second name: blobs never change in place
        except FileNotFoundError:
            raise BlobMissing(ref) from None
        except OSError:  # a file system without hard links
            part = self.tmp / f"{new}.part"
            try:
                await asyncio.to_thread(shutil.copyfile, src, part)
                await asyncio.to_thread(os.replace, part, dst)
            except FileNotFoundError:
                raise BlobMissing(ref) from None
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(part)
        return new

    async def open(self, ref: str, conn: AsyncConnection | None = None) -> AsyncIterator[bytes]:
        try:
            f = open(self.path(ref), "rb")  # noqa: SIM115 (closed by the generator)
        except FileNotFoundError:
            raise BlobMissing(ref) from None

        async def pieces() -> AsyncIterator[bytes]:
            with f:  # an unlinked file stays readable to its end while open
                while piece := await asyncio.to_thread(f.read, CHUNK):
                    yield piece

        return pieces()

    async def release(self, conn: AsyncConnection, refs: Sequence[str]) -> None:
        return None  # files go after the commit (reclaim): a rollback must find them

    async def reclaim(self, refs: Sequence[str]) -> None:
        for ref in refs:
            with contextlib.suppress(FileNotFoundError, BlobMissing):
                os.unlink(self.path(ref))

    async def sweep(self, named: Named) -> int:
        parts, candidates = await asyncio.to_thread(self._scan, time.time() - self.grace_seconds)
        removed = 0
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
                removed += 1
        for start in range(0, len(candidates), _SWEEP_BATCH):
            batch = candidates[start : start + _SWEEP_BATCH]
            async with self.db.connect() as conn:
                keep = await named(conn, batch)
            gone = [ref for ref in batch if ref not in keep]
            await self.reclaim(gone)
            removed += len(gone)
        return removed

    def _scan(self, cutoff: float) -> tuple[list[Path], list[str]]:
        """Abandoned partial files, and finished blobs old enough to be orphans. The ctime
        counts: a hard link (a copy) made now refreshes an old file's."""
        parts = [p for p in self.tmp.iterdir() if _older(p, cutoff)]
        refs: list[str] = []
        for sub in self.root.iterdir():
            if sub == self.tmp or not sub.is_dir():
                continue
            refs += [
                e.name for e in os.scandir(sub) if _FILE_REF.fullmatch(e.name) and _older(e, cutoff)
            ]
        return parts, refs


def _older(entry: Path | os.DirEntry[str], cutoff: float) -> bool:
    try:
        return entry.stat().st_ctime < cutoff
    except FileNotFoundError:
        return False


# --- PostgreSQL large objects ------------------------------------------------------------------

_LO_CREATE = text("SELECT lo_create(0)")
_LO_PUT = text("SELECT lo_put(CAST(:oid AS oid), :off, :data)").bindparams(
    bindparam("data", type_=LargeBinary)
)
# Each read names the object through pg_largeobject_metadata: a missing one is no row, not an
# error (which would abort the caller's transaction).
_LO_GET = text(
    "SELECT lo_get(l.oid, :off, :n) FROM pg_largeobject_metadata l WHERE l.oid = CAST(:oid AS oid)"
)
_LO_COPY = text(
    "SELECT lo_from_bytea(0, lo_get(l.oid)) FROM pg_largeobject_metadata l"
    " WHERE l.oid = CAST(:oid AS oid)"
)
_LO_UNLINK = text(
    "SELECT lo_unlink(l.oid) FROM pg_largeobject_metadata l WHERE l.oid = ANY(CAST(:oids AS oid[]))"
)


def _oid(ref: str) -> int:
    if not ref.isdigit():
        raise BlobMissing(ref)
    return int(ref)


class PgBlobs(BlobStore):
    kind = "postgresql"

    def __init__(self, db: Database, *, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> None:
        self.db = db
        self.grace_seconds = grace_seconds

    async def put(
        self,
        chunks: AsyncIterable[bytes | memoryview],
        cap: int,
        conn: AsyncConnection | None = None,
    ) -> Blob:
        if conn is not None:
            oid = (await conn.execute(_LO_CREATE)).scalar_one()
            try:
                size = await self._fill(oid, chunks, cap, conn)
            except BlobTooLarge:
                await self.release(conn, [str(oid)])
                raise
            return Blob(str(oid), size)
        async with self.db.begin() as c:  # created and listed as pending in one commit
            oid = (await c.execute(_LO_CREATE)).scalar_one()
            await c.execute(insert(blob_uploads).values(ref=str(oid), created_at=now()))
        try:
            size = await self._fill(oid, chunks, cap, None)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.discard(str(oid))
            raise
        return Blob(str(oid), size)

    async def _fill(
        self,
        oid: int,
        chunks: AsyncIterable[bytes | memoryview],
        cap: int,
        conn: AsyncConnection | None,
    ) -> int:
        """Write the stream in CHUNK pieces: on `conn`, or each piece a statement of its own
        on a pooled connection (a slow client never holds a connection between pieces)."""
        buf = bytearray()
        size = 0

        async def write(piece: bytes) -> None:
            params = {"oid": oid, "off": size - len(buf), "data": piece}
            if conn is not None:
                await conn.execute(_LO_PUT, params)
                return
            async with self.db.autocommit() as c:
                await c.execute(_LO_PUT, params)

        async for chunk in chunks:
            size += len(chunk)
            if size > cap:
                raise BlobTooLarge(cap)
            buf += chunk
            if len(buf) >= CHUNK:
                await write(bytes(buf))
                buf.clear()
        if buf:
            await write(bytes(buf))
        return size

    async def adopt(self, conn: AsyncConnection, ref: str) -> None:
        gone = await conn.execute(delete(blob_uploads).where(blob_uploads.c.ref == ref))
        if gone.rowcount != 1:
            raise BlobMissing(ref)

    async def discard(self, ref: str) -> None:
        async with self.db.begin() as conn:
            await self.release(conn, [ref])
            await conn.execute(delete(blob_uploads).where(blob_uploads.c.ref == ref))

    async def copy(self, conn: AsyncConnection, ref: str) -> str:
        new = (await conn.execute(_LO_COPY, {"oid": _oid(ref)})).scalar_one_or_none()
        if new is None:
            raise BlobMissing(ref)
        return str(new)

    async def open(self, ref: str, conn: AsyncConnection | None = None) -> AsyncIterator[bytes]:
        oid = _oid(ref)

        async def piece(off: int) -> bytes | None:
            params = {"oid": oid, "off": off, "n": CHUNK}
            if conn is not None:
                got = (await conn.execute(_LO_GET, params)).scalar_one_or_none()
            else:
                async with self.db.connect() as c:
                    got = (await c.execute(_LO_GET, params)).scalar_one_or_none()
            return bytes(got) if got is not None else None

        first = await piece(0)
        if first is None:
            raise BlobMissing(ref)

        async def pieces() -> AsyncIterator[bytes]:
            data: bytes | None = first
            off = 0
            while data:
                yield data
                if len(data) < CHUNK:
                    return
                off += len(data)
                data = await piece(off)
                if data is None:
                    raise BlobMissing(ref)  # deleted mid-stream: the answer is cut short

        return pieces()

    async def release(self, conn: AsyncConnection, refs: Sequence[str]) -> None:
        oids = [_oid(r) for r in refs if r.isdigit()]
        if oids:
            await conn.execute(_LO_UNLINK, {"oids": oids})

    async def reclaim(self, refs: Sequence[str]) -> None:
        return None  # unlinked with the release's transaction

    async def sweep(self, named: Named) -> int:
        cutoff = now() - timedelta(seconds=self.grace_seconds)
        removed = 0
        while True:
            async with self.db.begin() as conn:
                stale = (
                    select(blob_uploads.c.ref)
                    .where(blob_uploads.c.created_at < cutoff)
                    .limit(_SWEEP_BATCH)
                )
                refs = [
                    r[0]
                    for r in await conn.execute(
                        delete(blob_uploads)
                        .where(blob_uploads.c.ref.in_(stale.scalar_subquery()))
                        .returning(blob_uploads.c.ref)
                    )
                ]
                if not refs:
                    return removed
                keep = await named(conn, refs)
                await self.release(conn, [r for r in refs if r not in keep])
            removed += len(refs) - len(keep)


def open_store(db: Database, directory: str | None = None) -> BlobStore:
    """PostgreSQL: large objects. SQLite: files in `directory`, by default `<database>.media`
    beside the database file (a temporary directory for an in-memory database)."""
    if db.is_postgres:
        return PgBlobs(db)
    if directory:
        return FileBlobs(Path(directory).expanduser(), db)
    path = db.urls.sync_url.database or ""
    if not path or path == ":memory:":
        return FileBlobs(Path(tempfile.mkdtemp(prefix="openband-media-")), db)
    return FileBlobs(Path(path).expanduser().resolve().with_name(Path(path).name + ".media"), db)
