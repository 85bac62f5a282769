"""Issue 12, items 3, 8 and 11 (media): the attacks as written, on SQLite and PostgreSQL.

- Stored cross-account XSS: an HTML file bob sends to alice as MMS was served from alice's media
  URL as text/html on the API origin. It is now an attachment, never sniffed, under a CSP that
  sandboxes it (and every other answer of the server carries that CSP).
- A media upload with a malformed Content-Type (`R];N`) was stored and served back: now 415.
- One tenant could fill the disk (25 uploads in 0.7 s added 128 MB to the database): media live
  in a blob store (files beside SQLite, large objects on PostgreSQL), within per-account quotas,
  and are deleted with their rows. The memory attack is tests/security/test_media_memory.py.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from openband.clock import now
from openband.core.budget import ByteBudget, Overloaded
from openband.core.messaging.media import (
    MediaLibrary,
    MediaQuotaExceeded,
    check_content_type,
    renders_inline,
)
from openband.store import media as media_repo
from openband.store.blobs import CHUNK, BlobStore, BlobTooLarge, FileBlobs, PgBlobs, open_store
from openband.store.db import Database
from openband.store.schema import blob_uploads, media
from tests.support.harness import Account, Harness
from tests.support.messaging import provision_sender

V2 = "/api/v2"
HTML = b"<html><body><script>fetch('/api/v2/users/'+1+'/media').then(r=>r.text())</script>"
SANDBOX_CSP = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)


def _media_url(acct: Account, media_id: str) -> str:
    return f"{V2}/users/{acct.account_id}/media/{media_id}"


def _put(acct: Account, media_id: str, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return acct.client.put(
        _media_url(acct, media_id), content=body, auth=acct.auth, headers=headers
    )


def _library(harness: Harness) -> MediaLibrary:
    return harness.app.state.platform.media  # type: ignore[no-any-return]


def _rows(harness: Harness, account_id: str) -> dict[str, str | None]:
    """media id -> blob ref of the account's rows (expired ones too)."""

    async def go(db: Database) -> dict[str, str | None]:
        async with db.connect() as conn:
            rows = await conn.execute(
                select(media.c.media_id, media.c.blob_ref).where(media.c.account_id == account_id)
            )
            return {r[0]: r[1] for r in rows}

    return harness.run(go)  # type: ignore[no-any-return]


async def _exists(db: Database, blobs: BlobStore, ref: str) -> bool:
    """Whether the blob's bytes are still stored (a file; a large object)."""
    if isinstance(blobs, FileBlobs):
        return blobs.path(ref).exists()
    async with db.connect() as conn:
        q = text("SELECT 1 FROM pg_largeobject_metadata WHERE oid = CAST(:o AS oid)")
        return (await conn.execute(q, {"o": int(ref)})).first() is not None


def _blob_exists(harness: Harness, ref: str) -> bool:
    return harness.run(lambda db: _exists(db, _library(harness).blobs, ref))  # type: ignore[no-any-return]


def _pending(harness: Harness) -> list[str]:
    """Blobs written and not (yet) named by a row: partial files, or PostgreSQL's ledger."""
    blobs = _library(harness).blobs
    if isinstance(blobs, FileBlobs):
        return sorted(p.name for p in blobs.tmp.iterdir())

    async def go(db: Database) -> list[str]:
        async with db.connect() as conn:
            return [r[0] for r in await conn.execute(select(blob_uploads.c.ref))]

    return harness.run(go)  # type: ignore[no-any-return]


def _files(harness: Harness) -> set[str]:
    """Every file of the SQLite store (empty on PostgreSQL)."""
    blobs = _library(harness).blobs
    if not isinstance(blobs, FileBlobs):
        return set()
    return {str(p.relative_to(blobs.root)) for p in blobs.root.rglob("*") if p.is_file()}


# --- item 3: stored XSS through media ------------------------------------------------------------


def test_html_that_bob_texts_alice_is_not_a_page_on_the_api_origin(harness: Harness) -> None:
    bob, alice = harness.new_account(), harness.new_account()
    bob_tn, alice_tn = provision_sender(bob), provision_sender(alice)
    assert _put(bob, "invite.html", HTML, **{"Content-Type": "text/html"}).status_code == 204
    s = harness.settings
    own = f"http://{s.host}:{s.port}{_media_url(bob, 'invite.html')}"
    r = bob_tn.send([alice_tn.tn], "see this", media=[own])
    assert r.status_code == 202, r.text
    # The simulator delivers on-net: alice's copy is her media, at her URL.
    listed: list[dict[str, object]] = []

    def arrived() -> bool:
        listed[:] = alice.client.get(f"{V2}/users/{alice.account_id}/media", auth=alice.auth).json()
        return any(str(m["mediaName"]).endswith("/invite.html") for m in listed)

    harness.wait_for(arrived, timeout=15)
    [copy] = [m for m in listed if str(m["mediaName"]).endswith("/invite.html")]
    url = str(copy["content"])
    got = alice.client.get(url.split("/api/v2", 1)[1], auth=alice.auth)
    assert got.status_code == 200 and got.content == HTML
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == 'attachment; filename="invite.html"'
    assert got.headers["content-security-policy"] == SANDBOX_CSP
    # bob's own copy is served the same way
    mine = bob.client.get(_media_url(bob, "invite.html"), auth=bob.auth)
    assert mine.headers["content-disposition"].startswith("attachment")
    assert mine.headers["content-security-policy"] == SANDBOX_CSP


@pytest.mark.parametrize(
    ("content_type", "attachment"),
    [
        ("text/html", True),
        ("text/html; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/xhtml+xml", True),
        ("text/xml", True),
        ("application/xml", True),
        ("application/javascript", True),
        ("text/javascript", True),
        ("text/css", True),
        ("text/csv", True),
        ("application/pdf", True),
        ("application/octet-stream", True),
        ("application/x-unknown", True),
        ("x-foo/bar", True),
        ("text/plain", False),
        ("text/plain; charset=utf-8", False),
        ("image/png", False),
        ("IMAGE/JPEG", False),
        ("audio/mpeg", False),
        ("video/mp4", False),
    ],
)
def test_what_a_browser_would_render_is_an_attachment(
    account: Account, content_type: str, attachment: bool
) -> None:
    assert renders_inline(content_type) is not attachment
    assert (
        _put(account, "f", b"<svg onload=alert(1)>", **{"Content-Type": content_type}).status_code
        == 204
    )
    got = account.client.get(_media_url(account, "f"), auth=account.auth)
    assert got.headers["content-type"] == content_type  # as uploaded, never with a charset added
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == SANDBOX_CSP
    assert ("content-disposition" in got.headers) is attachment


def test_every_answer_of_the_api_origin_carries_the_csp(harness: Harness) -> None:
    acct = harness.new_account()
    sender = provision_sender(acct)
    c = harness.client
    # The hot path (api/messaging_v2.create_message_asgi) writes its own headers: through the
    # full route first (credentials this process has not verified yet), then from the cache,
    # and its error answers.
    answers = {"create (fresh credentials)": sender.send(None, "x")}
    answers["create (cached)"] = sender.send(None, "x")
    answers["create 400"] = sender.send(None, None)
    answers["create 415"] = c.post(
        f"{V2}/users/{acct.account_id}/messages", content=b"x", auth=acct.auth,
        headers={"Content-Type": "text/plain"},
    )  # fmt: skip
    answers |= {
        "health": c.get("/health"),
        "dashboard 401": c.get("/api/accounts/1/sites"),
        "dashboard 200": c.get(f"/api/accounts/{acct.account_id}/sites", auth=acct.auth),
        "messaging list": c.get(f"{V2}/users/{acct.account_id}/messages", auth=acct.auth),
        "media 404": c.get(_media_url(acct, "none"), auth=acct.auth),
        "sim": c.get("/sim/v1/reserved-numbers", auth=acct.auth),
        "no route": c.get("/nowhere"),
        "openapi": c.get("/openapi.json"),
    }
    for name, r in answers.items():
        assert r.headers.get("content-security-policy") == SANDBOX_CSP, name
        assert r.headers.get("x-content-type-options") == "nosniff", name
    assert answers["create (cached)"].status_code == 202


def test_the_docs_page_has_its_own_allowance_and_still_loads_its_viewer(harness: Harness) -> None:
    """FastAPI's /docs loads Swagger UI from jsDelivr and starts it inline: its CSP allows
    exactly what the page references (checked against the page itself), and nothing frames it."""
    page = harness.client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    directives = (d.strip().split(" ", 1) for d in policy.split(";"))
    csp = {d[0]: d[1] if len(d) > 1 else "" for d in directives}
    assert csp["frame-ancestors"] == "'none'" and "sandbox" not in csp
    html = page.text
    for src in re.findall(r'<script src="([^"]+)"', html):
        assert any(src.startswith(o) for o in csp["script-src"].split()), src
    assert "<script>" in html and "'unsafe-inline'" in csp["script-src"]
    for href in re.findall(r'<link type="text/css" rel="stylesheet" href="([^"]+)"', html):
        assert any(href.startswith(o) for o in csp["style-src"].split()), href
    for icon in re.findall(r'rel="shortcut icon" href="([^"]+)"', html):
        assert any(icon.startswith(o) for o in csp["img-src"].split()), icon
    assert csp["connect-src"] == "'self'"  # the OpenAPI document and "Try it out"
    assert harness.client.get("/openapi.json").status_code == 200


# --- item 11: a malformed Content-Type ----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["R];N", "text", "text/", "/html", "text/ html", "text/html; charset", "a/b;c=\x01"],
)
def test_a_malformed_content_type_is_refused_415(account: Account, content_type: str) -> None:
    r = _put(account, "odd.bin", b"data", **{"Content-Type": content_type})
    assert r.status_code == 415, r.text
    doc = r.json()
    assert doc["type"] == "unsupported-content-type" and "valid media type" in doc["description"]
    assert account.client.get(_media_url(account, "odd.bin"), auth=account.auth).status_code == 404


def test_well_formed_content_types_pass() -> None:
    for ok in (
        "image/png",
        'text/plain; charset="utf-8"',
        "a/b ; c=d;e=f",
        "application/vnd.x+json",
    ):
        assert check_content_type(ok) == ok
    assert check_content_type(None) == "application/octet-stream"


# --- item 8: quotas -----------------------------------------------------------------------------


def test_over_the_count_quota_is_refused_and_nothing_is_written(harness: Harness) -> None:
    acct = harness.new_account(media_quota_count=2)
    assert _put(acct, "a", b"1").status_code == 204
    assert _put(acct, "b", b"2").status_code == 204
    files = _files(harness)
    r = _put(acct, "c", b"3")
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "messagingRequestError"
    assert "Media quota exceeded" in r.json()["description"]
    assert set(_rows(harness, acct.account_id)) == {"a", "b"}
    assert _files(harness) == files and _pending(harness) == []
    # overwriting one of the two is no third object
    assert _put(acct, "b", b"22").status_code == 204
    # and deleting one makes room
    assert acct.client.delete(_media_url(acct, "a"), auth=acct.auth).status_code == 204
    assert _put(acct, "c", b"3").status_code == 204


def test_over_the_byte_quota_is_refused_declared_or_streamed(harness: Harness) -> None:
    acct = harness.new_account(media_quota_bytes=CHUNK * 3)
    assert _put(acct, "a", b"x" * CHUNK * 2).status_code == 204
    files = _files(harness)
    # declared: refused before the body is read
    r = _put(acct, "b", b"x" * (CHUNK + 1))
    assert r.status_code == 409 and "Media quota exceeded" in r.json()["description"]
    # streamed without a length (chunked): refused once it passes the room left

    def chunked() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * (CHUNK // 2)

    r = _put(acct, "b", chunked())
    assert r.status_code == 409, r.text
    assert set(_rows(harness, acct.account_id)) == {"a"}
    assert _files(harness) == files and _pending(harness) == []
    assert _put(acct, "b", b"x" * CHUNK).status_code == 204  # what fits, fits


def test_two_uploads_that_each_fit_alone_cannot_both_be_kept(harness: Harness) -> None:
    """Checked again when the row is written: an upload that passed the first check while
    another filled the quota is refused then, and its blob deleted."""
    acct = harness.new_account(media_quota_count=1)
    library = _library(harness)
    files = _files(harness)

    async def race(db: Database) -> BaseException | None:
        streaming, go_on = asyncio.Event(), asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"first half "
            streaming.set()  # past the first check, writing its blob
            await go_on.wait()
            yield b"second half"

        first = asyncio.create_task(library.upload(acct.account_id, "a", slow(), None, None))
        await streaming.wait()
        await library.upload(acct.account_id, "b", _chunks(b"fills it", []), None, None)
        go_on.set()
        try:
            await first
        except MediaQuotaExceeded as exc:
            return exc
        return None

    assert isinstance(harness.run(race), MediaQuotaExceeded)
    assert set(_rows(harness, acct.account_id)) == {"b"} and _pending(harness) == []
    assert len(_files(harness) - files) == (1 if harness.backend == "sqlite" else 0)


def test_the_quota_is_per_account_and_settings_give_the_default(harness: Harness) -> None:
    full = harness.new_account(media_quota_count=1)
    other = harness.new_account()
    assert _put(full, "a", b"1").status_code == 204
    assert _put(full, "b", b"1").status_code == 409
    assert _put(other, "a", b"1").status_code == 204 and _put(other, "b", b"1").status_code == 204
    unlimited = harness.new_account(media_quota_count=0)  # 0 lifts it for this account
    assert all(_put(unlimited, f"m{i}", b"1").status_code == 204 for i in range(3))


def test_over_the_size_cap_is_413_in_messagings_shape(harness: Harness) -> None:
    acct = harness.new_account()
    cap = harness.settings.media_max_bytes

    def chunked() -> Iterator[bytes]:
        for _ in range(cap // (64 * 1024) + 2):
            yield b"z" * 64 * 1024

    r = _put(acct, "big", chunked())
    assert r.status_code == 413 and r.json()["type"] == "request-entity-too-large"
    assert _rows(harness, acct.account_id) == {} and _pending(harness) == []


def test_a_handset_mms_beyond_the_quota_is_refused(harness: Harness) -> None:
    import base64

    acct = harness.new_account(media_quota_count=1)
    mine = provision_sender(acct)
    item = {"contentType": "image/png", "content": base64.b64encode(b"PNG").decode()}
    body = {"from": "+19845550199", "to": mine.tn, "text": "x", "media": [item, item]}
    r = acct.client.post("/sim/v1/messages", json=body, auth=acct.auth)
    assert r.status_code == 409, r.text
    assert _rows(harness, acct.account_id) == {}


# --- item 8: blobs, both backends ---------------------------------------------------------------


def test_media_bytes_live_in_the_blob_store_and_go_with_their_rows(harness: Harness) -> None:
    acct = harness.new_account()
    data = os.urandom(CHUNK * 2 + 17)  # several pieces, the last a short one
    assert _put(acct, "pic.png", data, **{"Content-Type": "image/png"}).status_code == 204
    ref = _rows(harness, acct.account_id)["pic.png"]
    assert ref is not None and _blob_exists(harness, ref)
    blobs = _library(harness).blobs
    assert isinstance(blobs, PgBlobs if harness.backend == "postgres" else FileBlobs)

    async def content(db: Database) -> bytes | None:
        async with db.connect() as conn:
            return (
                await conn.execute(select(media.c.content).where(media.c.blob_ref == ref))
            ).scalar_one()

    assert harness.run(content) is None  # not in the table
    got = acct.client.get(_media_url(acct, "pic.png"), auth=acct.auth)
    assert got.content == data and got.headers["content-length"] == str(len(data))
    # overwritten: the old blob goes
    assert _put(acct, "pic.png", b"v2").status_code == 204
    new = _rows(harness, acct.account_id)["pic.png"]
    assert new != ref and not _blob_exists(harness, ref) and _blob_exists(harness, new or "")
    # deleted: its blob goes
    assert acct.client.delete(_media_url(acct, "pic.png"), auth=acct.auth).status_code == 204
    assert not _blob_exists(harness, new or "")


def test_rows_from_before_the_blob_store_are_served_as_they_are(harness: Harness) -> None:
    """Migration 0012 moves nothing: a row that holds its bytes is served from the column
    (safely, like the others) until it expires."""
    acct = harness.new_account()

    async def legacy(db: Database) -> None:
        at = now()
        async with db.begin() as conn:
            await conn.execute(
                media.insert().values(
                    account_id=acct.account_id, media_id="old/0/page.html", content=HTML,
                    content_type="text/html", cache_control=None, size=len(HTML),
                    created_at=at, expires_at=at + timedelta(hours=1),
                )
            )  # fmt: skip

    harness.run(legacy)
    got = acct.client.get(_media_url(acct, "old/0/page.html"), auth=acct.auth)
    assert got.status_code == 200 and got.content == HTML
    assert got.headers["content-disposition"] == 'attachment; filename="page.html"'
    assert got.headers["content-security-policy"] == SANDBOX_CSP
    assert (
        acct.client.delete(_media_url(acct, "old/0/page.html"), auth=acct.auth).status_code == 204
    )


def test_swept_media_take_their_blobs_along(harness: Harness) -> None:
    acct = harness.new_account()
    assert _put(acct, "old.txt", b"old", **{"Content-Type": "text/plain"}).status_code == 204
    ref = _rows(harness, acct.account_id)["old.txt"] or ""

    async def expire(db: Database) -> None:
        async with db.begin() as conn:
            await conn.execute(
                media.update()
                .where(media.c.account_id == acct.account_id)
                .values(expires_at=now() - timedelta(seconds=1))
            )

    harness.run(expire)
    assert acct.client.get(_media_url(acct, "old.txt"), auth=acct.auth).status_code == 404
    assert _blob_exists(harness, ref)
    assert harness.run(lambda db: _library(harness).sweep()) >= 1
    assert _rows(harness, acct.account_id) == {} and not _blob_exists(harness, ref)


def test_inbound_copies_are_blobs_of_each_recipient(harness: Harness) -> None:
    """An on-net MMS: each recipient's copy is a blob of its own (deleting the sender's or one
    recipient's leaves the others whole)."""
    bob, alice = harness.new_account(), harness.new_account()
    bob_tn, alice_tn = provision_sender(bob), provision_sender(alice)
    assert _put(bob, "cat.gif", b"GIF89a-cat", **{"Content-Type": "image/gif"}).status_code == 204
    s = harness.settings
    r = bob_tn.send(
        [alice_tn.tn], "cat", media=[f"http://{s.host}:{s.port}{_media_url(bob, 'cat.gif')}"]
    )
    assert r.status_code == 202
    harness.wait_for(lambda: len(_rows(harness, alice.account_id)) == 1, timeout=15)
    [(copy_id, copy_ref)] = _rows(harness, alice.account_id).items()
    bob_ref = _rows(harness, bob.account_id)["cat.gif"]
    assert copy_ref and bob_ref and copy_ref != bob_ref
    assert bob.client.delete(_media_url(bob, "cat.gif"), auth=bob.auth).status_code == 204
    got = alice.client.get(_media_url(alice, copy_id), auth=alice.auth)
    assert got.status_code == 200 and got.content == b"GIF89a-cat"
    assert got.headers["content-type"] == "image/gif" and "content-disposition" not in got.headers


@pytest.fixture
def store(on_db, tmp_path: Path) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Runs `check(db, blobs)` with the database's own blob store, orphans' grace 0."""

    def run(check) -> None:  # type: ignore[no-untyped-def]
        async def go(db: Database) -> None:
            blobs = open_store(db, str(tmp_path / "media"))
            blobs.grace_seconds = 0.0  # type: ignore[attr-defined]
            await check(db, blobs)

        on_db(go)

    yield run


async def _stream(pulled: list[int], total: int, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    for _ in range(total // piece):
        pulled.append(piece)
        yield b"q" * piece


def test_a_put_past_its_cap_stops_reading_and_keeps_nothing(store) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database, blobs: BlobStore) -> None:
        pulled: list[int] = []
        with pytest.raises(BlobTooLarge):
            await blobs.put(_stream(pulled, 50 * CHUNK), CHUNK * 2)
        # it stopped at the cap: 8 pieces of 64 KiB fill it, the 9th passes it
        assert sum(pulled) == CHUNK * 2 + 64 * 1024
        if isinstance(blobs, FileBlobs):
            assert list(blobs.root.rglob("*.part")) == [] and _blob_files(blobs) == []
        async with db.connect() as conn:
            assert (await conn.execute(select(blob_uploads.c.ref))).all() == []

    store(check)


def _blob_files(blobs: FileBlobs) -> list[Path]:
    return [p for p in blobs.root.rglob("*") if p.is_file()]


def test_blobs_round_trip_copy_and_release(store) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database, blobs: BlobStore) -> None:
        data = os.urandom(CHUNK + 5)
        pulled: list[int] = []
        blob = await blobs.put(_chunks(data, pulled), CHUNK * 4)
        assert blob.size == len(data) and await _exists(db, blobs, blob.ref)
        assert b"".join([c async for c in await blobs.open(blob.ref)]) == data
        async with db.begin() as conn:
            await blobs.adopt(conn, blob.ref)
            copy = await blobs.copy(conn, blob.ref)
        assert copy != blob.ref
        async with db.begin() as conn:
            await blobs.release(conn, [blob.ref])
        await blobs.reclaim([blob.ref])
        assert not await _exists(db, blobs, blob.ref)
        assert b"".join([c async for c in await blobs.open(copy)]) == data  # the copy stays
        # a rolled-back release keeps the blob
        with pytest.raises(RuntimeError):
            async with db.begin() as conn:
                await blobs.release(conn, [copy])
                raise RuntimeError("rolled back")
        assert await _exists(db, blobs, copy)
        async with db.begin() as conn:
            await blobs.release(conn, [copy])
        await blobs.reclaim([copy])
        assert not await _exists(db, blobs, copy)

    store(check)


async def _chunks(data: bytes, pulled: list[int]) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1000):
        pulled.append(1000)
        yield data[i : i + 1000]


def test_the_sweep_deletes_what_a_crash_left_and_nothing_a_row_names(store) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database, blobs: BlobStore) -> None:
        kept = await blobs.put(_chunks(b"kept", []), 100)
        async with db.begin() as conn:
            await db_media_row(conn, db, kept.ref)
            await blobs.adopt(conn, kept.ref)
        lost = await blobs.put(_chunks(b"lost", []), 100)  # a process died before its row
        if isinstance(blobs, FileBlobs):
            (blobs.tmp / "deadbeef.part").write_bytes(b"half")  # and one mid-write
        removed = await blobs.sweep(media_repo.named_blobs)
        assert removed == (2 if isinstance(blobs, FileBlobs) else 1)
        assert not await _exists(db, blobs, lost.ref) and await _exists(db, blobs, kept.ref)
        if isinstance(blobs, FileBlobs):
            assert list(blobs.tmp.iterdir()) == []

    store(check)


async def db_media_row(conn, db: Database, ref: str) -> None:  # type: ignore[no-untyped-def]
    from openband.store.accounts import insert_account

    await insert_account(conn, "9123", "t", None, {})
    at = now()
    await media_repo.put(
        conn, db.dialect, account_id="9123", media_id="m", blob_ref=ref, size=4,
        content_type="text/plain", cache_control=None, at=at, expires_at=at + timedelta(hours=1),
    )  # fmt: skip


def test_the_quota_counts_every_copy_and_refuses_with_409() -> None:
    from openband.config import Settings
    from openband.core.messaging.media import MediaQuota

    q = MediaQuota.of(
        {"media_quota_bytes": 10, "media_quota_count": "x"}, Settings(media_quota_count=3)
    )
    assert (q.bytes, q.count) == (10, 3)
    assert q.check((2, 4), 6) == 6
    with pytest.raises(MediaQuotaExceeded):
        q.check((3, 0), 0)
    with pytest.raises(MediaQuotaExceeded):
        q.check((0, 5), 6)
    assert MediaQuota.of({}, Settings(media_quota_bytes=0, media_quota_count=0)) == MediaQuota(
        None, None
    )


def test_the_sim_byte_budget_refuses_beyond_its_limit_and_frees_on_exit() -> None:
    budget = ByteBudget(100)
    with budget.hold(60), budget.hold(40):
        with pytest.raises(Overloaded) as refused, budget.hold(1):
            pass
        assert refused.value.status == 503 and refused.value.retry_after == 1
    assert budget.held == 0
    # One request larger than the whole budget runs, alone.
    with budget.hold(10**9), pytest.raises(Overloaded), budget.hold(1):
        pass
    assert budget.held == 0
