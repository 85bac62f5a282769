"""store/db.insert_many, the hot paths' bulk insert: what goes in comes back exactly, on both
backends, and on PostgreSQL the tables of one call are written all or nothing even without a
transaction (`Database.autocommit`)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from openband.store.db import Database, insert_many, insert_rows
from openband.store.schema import callback_attempts, message_recipients, messages

# Characters that break naive encodings: quotes, backslashes, COPY's tab and newline, JSON's
# escapes, non-BMP and line-separator code points.
TRICKY = "a'b\"c\\d\te\nf\r{g}[h],%s $1 \u2028 😀 ñ"
AT = datetime(2026, 11, 22, 10, 30, 15, 123456, tzinfo=UTC)


def _message(mid: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": mid,
        "account_id": "9900001",
        "application_id": None,
        "direction": "out",
        "owner": "+19195550100",
        "from_tn": "+19195550100",
        "to_tns": ["+13125550123", TRICKY],
        "text": TRICKY,
        "media": [{"u": TRICKY, "n": None}],
        "tag": None,
        "priority": "default",
        "expiration": None,
        "segment_count": 3,
        "message_type": "sms",
        "created_at": AT,
    }
    row.update(kw)
    return row


def _recipient(mid: str) -> dict[str, object]:
    return {
        "message_id": mid,
        "recipient": "+13125550123",
        "account_id": "9900001",
        "direction": "OUTBOUND",
        "source_tn": "+19195550100",
        "message_type": "sms",
        "status": "QUEUED",
        "error_code": None,
        "carrier_name": TRICKY[:64],
        "segment_count": 3,
        "message_size": 2**31 - 1,
        "attachment_count": 0,
        "recipient_count": 1,
        "send_at": AT.replace(tzinfo=None),  # naive means UTC
        "created_at": AT,
        "updated_at": AT,
    }


def test_values_come_back_exactly(on_db) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database) -> None:
        rows = [_message("m1"), _message("m2", tag=TRICKY, text="", expiration=AT)]
        async with db.autocommit() as conn:
            await insert_many(conn, [(messages, rows), (message_recipients, [_recipient("m1")])])
        async with db.begin() as conn:
            await insert_rows(
                conn,
                callback_attempts,
                [
                    {
                        "event_id": "e1",
                        "at": AT,
                        "status_code": None,
                        "latency_ms": 12.345,
                        "error": TRICKY,
                        "next_retry_at": None,
                        "worker": "w",
                    }
                ],
            )
        async with db.connect() as conn:
            got = [r._asdict() for r in await conn.execute(select(messages).order_by("id"))]
            rcpt = (await conn.execute(select(message_recipients))).one()._asdict()
            attempt = (await conn.execute(select(callback_attempts))).one()._asdict()
        for row in got:
            for k in ("created_at", "expiration"):
                if row[k] is not None:
                    row[k] = row[k].replace(tzinfo=UTC)
        assert got == rows
        assert rcpt["send_at"].replace(tzinfo=UTC) == AT
        assert rcpt["carrier_name"] == TRICKY[:64] and rcpt["message_size"] == 2**31 - 1
        assert attempt["error"] == TRICKY and attempt["latency_ms"] == 12.345
        assert attempt["id"] is not None  # the column left out took its own default

    on_db(check)


def test_the_tables_of_one_call_are_written_all_or_nothing(on_db) -> None:  # type: ignore[no-untyped-def]
    async def check(db: Database) -> None:
        async with db.autocommit() as conn:
            await insert_many(conn, [(messages, [_message("m1")])])
        # The second table's row is fine, the first's duplicates a key: neither stays.
        # PostgreSQL's error comes from the driver (the statement runs on it directly).
        with pytest.raises((IntegrityError, psycopg.IntegrityError)):
            async with db.autocommit() as conn:
                await insert_many(
                    conn, [(message_recipients, [_recipient("m2")]), (messages, [_message("m1")])]
                )
        async with db.connect() as conn:
            assert (await conn.execute(select(message_recipients))).all() == []
            assert len((await conn.execute(select(messages))).all()) == 1

    on_db(check)
