"""SQL of messaging: accepting (batched inserts, rate slots), the send pipeline's claims, status
transitions, inbound messages and the list/search query.

The pipeline's claim column is message_recipients.send_at: not NULL means "still to be handed to
the carrier, not before this instant". A claim locks due rows for its transaction; handing a
recipient to the carrier sets send_at to NULL in the same write as the carrier's first report.
Recipients whose media is fetched outside any transaction are leased instead: send_at moves
forward by the lease (a dead node's leases come back when it passes). One indexed column
instead of a jobs row per message: the accept path writes two rows less per message and a
claim takes hundreds at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.db import insert_many, one_of
from openband.store.schema import (
    accounts,
    message_recipients,
    messages,
    phone_numbers,
    rate_slots,
    sip_peers,
)

_m = messages
_r = message_recipients


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC by construction."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


# --- accept path -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SenderRow:
    """The sending number's location and its messaging products."""

    tn: str
    peer_id: int | None
    sms: bool
    mms: bool
    app_id: str | None


async def sender(conn: AsyncConnection, account_id: str, tn: str) -> SenderRow | None:
    p = sip_peers.c
    row = (
        await conn.execute(
            select(phone_numbers.c.tn, p.id, p.sms_feature, p.mms_feature, p.messaging_app_id)
            .select_from(
                phone_numbers.outerjoin(sip_peers, sip_peers.c.id == phone_numbers.c.peer_id)
            )
            .where(phone_numbers.c.tn == tn, phone_numbers.c.account_id == account_id)
        )
    ).first()
    if row is None:
        return None
    return SenderRow(
        tn=row[0],
        peer_id=row[1],
        sms=row[2] is not None,
        mms=row[3] is not None,
        app_id=row[4],
    )


async def account_limits(conn: AsyncConnection, account_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(accounts.c.limits).where(accounts.c.id == account_id))).first()
    return dict(row[0] or {}) if row else {}


async def insert_messages(
    conn: AsyncConnection, message_rows: list[dict[str, Any]], recipient_rows: list[dict[str, Any]]
) -> None:
    """Both tables in one statement on PostgreSQL (atomic without a transaction)."""
    await insert_many(conn, [(_m, message_rows), (_r, recipient_rows)])


async def load_slots(
    conn: AsyncConnection, keys: Iterable[str], dialect: str, at: datetime
) -> dict[str, datetime]:
    """The next free instant of each key, locked for this transaction on PostgreSQL."""
    keys = sorted(set(keys))  # a stable lock order: two nodes never deadlock on slots
    if not keys:
        return {}
    if dialect == "postgresql":
        # Rows must exist to be locked; a concurrent first insert is harmless (DO NOTHING).
        await conn.execute(
            postgresql.insert(rate_slots).on_conflict_do_nothing(index_elements=["key"]),
            [{"key": k, "next_free_at": at} for k in keys],
        )
    q = select(rate_slots.c.key, rate_slots.c.next_free_at).where(rate_slots.c.key.in_(keys))
    if dialect == "postgresql":
        q = q.order_by(rate_slots.c.key).with_for_update()
    return {r[0]: aware(r[1]) for r in await conn.execute(q)}  # type: ignore[misc]


async def save_slots(conn: AsyncConnection, slots: dict[str, datetime], dialect: str) -> None:
    if not slots:
        return
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(rate_slots)
    stmt = ins.on_conflict_do_update(
        index_elements=["key"], set_={"next_free_at": ins.excluded.next_free_at}
    )
    await conn.execute(stmt, [{"key": k, "next_free_at": v} for k, v in slots.items()])


# --- pipeline ----------------------------------------------------------------------------------


# On PostgreSQL the keys go as two arrays: one statement text whatever the batch size, so
# psycopg converts it once and the server keeps it prepared. An IN list renders a parameter per
# key (a new text per size, which psycopg converted uncached: a tenth of the send pump's CPU).
_unnest_keys = (
    func.unnest(
        bindparam("k_mids", type_=ARRAY(String())), bindparam("k_rcpts", type_=ARRAY(String()))
    )
    .table_valued("mid", "rcpt")
    .render_derived(name="k")
)
_KEYS_PG = tuple_(_r.c.message_id, _r.c.recipient).in_(
    select(_unnest_keys.c.mid, _unnest_keys.c.rcpt)
)


def _keys_in(keys: list[tuple[str, str]], postgres: bool) -> tuple[Any, dict[str, Any]]:
    """The condition "(message_id, recipient) is one of keys" and its parameters.

    SQLite: the keys inline, with message_id IN (...) beside them: its planner scans the whole
    table for a row-value IN list, but searches the primary key for this."""
    if postgres:
        return _KEYS_PG, {"k_mids": [k[0] for k in keys], "k_rcpts": [k[1] for k in keys]}
    mids = list(dict.fromkeys(k[0] for k in keys))
    cond = and_(_r.c.message_id.in_(mids), tuple_(_r.c.message_id, _r.c.recipient).in_(keys))
    return cond, {}


def _is_pg(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


# Not frozen (a frozen __init__ pays per field, on the hot path): treat as immutable.
@dataclass(slots=True)
class Message:
    """A message as the platform keeps it (a messages row): what core's messaging takes and
    gives, and each API family renders (core.messaging re-exports it)."""

    id: str
    account_id: str
    application_id: str | None
    direction: str  # "in" | "out"
    owner: str  # the account's number: the sender (out) or the recipient (in)
    sender: str  # column from_tn
    to: tuple[str, ...]  # column to_tns
    text: str
    media: tuple[str, ...]
    tag: str | None
    priority: str
    expiration: datetime | None
    segment_count: int
    message_type: str  # "sms" | "mms"
    time: datetime  # column created_at


@dataclass(slots=True)  # not frozen, like Message
class DueRecipient:
    """A recipient whose copy is due to the carrier, with its (outbound) message."""

    recipient: str
    message: Message


def message_values(m: Message) -> dict[str, Any]:
    """A messages row's columns."""
    return {
        "id": m.id,
        "account_id": m.account_id,
        "application_id": m.application_id,
        "direction": m.direction,
        "owner": m.owner,
        "from_tn": m.sender,
        "to_tns": list(m.to),
        "text": m.text,
        "media": list(m.media),
        "tag": m.tag,
        "priority": m.priority,
        "expiration": m.expiration,
        "segment_count": m.segment_count,
        "message_type": m.message_type,
        "created_at": m.time,
    }


def recipient_values(
    m: Message,
    recipient: str,
    *,
    status: str,
    send_at: datetime | None,
    carrier_name: str | None = None,
) -> dict[str, Any]:
    """A message_recipients row's columns: one recipient's copy of `m`."""
    return {
        "message_id": m.id,
        "recipient": recipient,
        "account_id": m.account_id,
        "direction": "OUTBOUND" if m.direction == "out" else "INBOUND",
        "source_tn": m.sender,
        "message_type": m.message_type,
        "status": status,
        "error_code": None,
        "carrier_name": carrier_name,
        "segment_count": m.segment_count,
        "message_size": len(m.text.encode()),
        "attachment_count": len(m.media),
        "recipient_count": len(m.to),
        "send_at": send_at,
        "created_at": m.time,
        "updated_at": m.time,
    }


def _due_query(postgres: bool) -> Any:
    # The due recipients are chosen (and locked) first, LIMIT inside: the join to messages then
    # sees at most `limit` rows and probes the primary key for each, whatever the planner's
    # statistics say about the size of the backlog.
    due = (
        select(_r.c.message_id, _r.c.recipient, _r.c.send_at)
        .where(_r.c.send_at <= bindparam("at", type_=_r.c.send_at.type))
        .order_by(_r.c.send_at)
        .limit(bindparam("limit"))
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    d = due.subquery("due")
    return (
        select(
            d.c.message_id,
            d.c.recipient,
            _m.c.account_id,
            _m.c.application_id,
            _m.c.from_tn,
            _m.c.to_tns,
            _m.c.text,
            _m.c.media,
            _m.c.tag,
            _m.c.priority,
            _m.c.expiration,
            _m.c.segment_count,
            _m.c.message_type,
            _m.c.created_at,
        )
        .select_from(d.join(_m, _m.c.id == d.c.message_id))
        .order_by(d.c.send_at)
    )


_DUE = {pg: _due_query(pg) for pg in (False, True)}


async def claim_due(
    conn: AsyncConnection, at: datetime, limit: int, postgres: bool
) -> list[DueRecipient]:
    """Claim up to `limit` recipients due at `at`, with their messages, in one read.

    Claimed means locked for this transaction, not written: FOR UPDATE SKIP LOCKED on
    PostgreSQL (another node's pump passes over them), and on SQLite the writer lock the
    transaction holds. The caller then either hands them to the carrier, whose first report
    clears send_at in the same UPDATE that moves the status (`transition_many`; `hand_over_all`
    for any the carrier did not report on), or leases them (`lease`). Compared with an UPDATE
    here, each recipient is written once instead of twice: on PostgreSQL a send_at change is
    never a HOT update, so every write meant a new entry in each of the table's five indexes.
    """
    rows = await conn.execute(_DUE[postgres], {"at": at, "limit": limit})
    return [
        DueRecipient(
            r[1],
            Message(
                r[0],
                r[2],
                r[3],
                "out",
                r[4],
                r[4],
                tuple(r[5] or ()),
                r[6] or "",
                tuple(r[7] or ()),
                r[8],
                r[9],
                aware(r[10]),
                r[11],
                r[12],
                aware(r[13]),  # type: ignore[arg-type]
            ),
        )
        for r in rows
    ]


async def lease(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]], lease_until: datetime
) -> None:
    """Put claimed recipients back under a lease (their hand-over waits for media checks)."""
    for i in range(0, len(keys), 400):
        cond, params = _keys_in(list(keys[i : i + 400]), _is_pg(conn))
        await conn.execute(update(_r).where(cond).values(send_at=lease_until), params)


async def hand_over(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]], lease_until: datetime
) -> set[tuple[str, str]]:
    """Clear send_at of claims still ours (same lease); returns those keys."""
    ours: set[tuple[str, str]] = set()
    for i in range(0, len(keys), 400):
        cond, params = _keys_in(list(keys[i : i + 400]), _is_pg(conn))
        result = await conn.execute(
            update(_r)
            .where(cond, _r.c.send_at == lease_until)
            .values(send_at=None)
            .returning(_r.c.message_id, _r.c.recipient),
            params,
        )
        ours.update((r[0], r[1]) for r in result)
    return ours


async def hand_over_all(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> None:
    """Mark claimed recipients as handed to the carrier (send_at NULL) where no report did."""
    for i in range(0, len(keys), 400):
        cond, params = _keys_in(list(keys[i : i + 400]), _is_pg(conn))
        await conn.execute(
            update(_r).where(cond, _r.c.send_at.is_not(None)).values(send_at=None), params
        )


async def queued_count(conn: AsyncConnection) -> int:
    """Recipients not yet handed to the carrier (the send_at index)."""
    return int(
        (await conn.execute(select(func.count()).where(_r.c.send_at.is_not(None)))).scalar_one()
    )


async def next_due(conn: AsyncConnection) -> datetime | None:
    # The WHERE lets SQLite use the partial index (it has no min() shortcut without it).
    q = select(func.min(_r.c.send_at)).where(_r.c.send_at.is_not(None))
    return aware((await conn.execute(q)).scalar())


async def transition(
    conn: AsyncConnection,
    message_id: str,
    recipient: str,
    status: str,
    from_statuses: Sequence[str],
    at: datetime,
    error_code: int | None = None,
    carrier_name: str | None = None,
) -> bool:
    """Move one recipient to `status` if it is currently in one of `from_statuses`."""
    moved = await transition_many(
        conn, [(message_id, recipient)], status, from_statuses, at, error_code, carrier_name
    )
    return bool(moved)


async def transition_many(
    conn: AsyncConnection,
    keys: Sequence[tuple[str, str]],
    status: str,
    from_statuses: Sequence[str],
    at: datetime,
    error_code: int | None = None,
    carrier_name: str | None = None,
) -> set[tuple[str, str]]:
    """Move each (message id, recipient) to `status` if it is in one of `from_statuses`;
    returns the keys that moved. One statement per 400 keys.

    A report means the recipient is in the carrier's hands: send_at is cleared in the same
    write (see `claim_due`)."""
    values: dict[str, Any] = {"status": status, "updated_at": at, "send_at": None}
    if error_code is not None:
        values["error_code"] = error_code
    if carrier_name is not None:
        values["carrier_name"] = carrier_name
    moved: set[tuple[str, str]] = set()
    pg = _is_pg(conn)
    for i in range(0, len(keys), 400):
        chunk = list(keys[i : i + 400])
        if len(chunk) == 1:
            cond: Any = and_(_r.c.message_id == chunk[0][0], _r.c.recipient == chunk[0][1])
            params: dict[str, Any] = {}
        else:
            cond, params = _keys_in(chunk, pg)
        params["allowed"] = list(from_statuses)
        result = await conn.execute(
            update(_r)
            .where(cond, one_of(_r.c.status, "allowed", postgres=pg))
            .values(**values)
            .returning(_r.c.message_id, _r.c.recipient),
            params,
        )
        moved.update((r[0], r[1]) for r in result)
    return moved


async def get_message(conn: AsyncConnection, message_id: str) -> Message | None:
    r = (await conn.execute(select(_m).where(_m.c.id == message_id))).first()
    if r is None:
        return None
    m = r._mapping
    return Message(
        id=m["id"],
        account_id=m["account_id"],
        application_id=m["application_id"],
        direction=m["direction"],
        owner=m["owner"],
        sender=m["from_tn"],
        to=tuple(m["to_tns"] or ()),
        text=m["text"] or "",
        media=tuple(m["media"] or ()),
        tag=m["tag"],
        priority=m["priority"],
        expiration=aware(m["expiration"]),
        segment_count=m["segment_count"],
        message_type=m["message_type"],
        time=aware(m["created_at"]),  # type: ignore[arg-type]
    )


async def recipient_status(conn: AsyncConnection, message_id: str, recipient: str) -> str | None:
    return (
        await conn.execute(
            select(_r.c.status).where(_r.c.message_id == message_id, _r.c.recipient == recipient)
        )
    ).scalar()


@dataclass(frozen=True, slots=True)
class Destination:
    """A platform number that receives a message: its owner and location's messaging app."""

    tn: str
    account_id: str
    app_id: str | None


async def destinations(conn: AsyncConnection, tns: Sequence[str]) -> list[Destination]:
    if not tns:
        return []
    rows = await conn.execute(
        select(phone_numbers.c.tn, phone_numbers.c.account_id, sip_peers.c.messaging_app_id)
        .select_from(phone_numbers.outerjoin(sip_peers, sip_peers.c.id == phone_numbers.c.peer_id))
        .where(phone_numbers.c.tn.in_(list(tns)))
    )
    found = {r[0]: Destination(r[0], r[1], r[2]) for r in rows}
    return [found[t] for t in tns if t in found]


# --- list / search -----------------------------------------------------------------------------

# What a list can be sorted by (each family maps its own names to these).
SORT_COLUMNS = {
    "message_id": _r.c.message_id,
    "account_id": _r.c.account_id,
    "sender": _r.c.source_tn,
    "recipient": _r.c.recipient,
    "status": _r.c.status,
    "direction": _r.c.direction,
    "message_type": _r.c.message_type,
    "segment_count": _r.c.segment_count,
    "error_code": _r.c.error_code,
    "time": _r.c.created_at,
    "carrier_name": _r.c.carrier_name,
    "message_size": _r.c.message_size,
    "attachment_count": _r.c.attachment_count,
    "recipient_count": _r.c.recipient_count,
}
SORT_KEYS = frozenset(SORT_COLUMNS)


@dataclass
class MessageFilter:
    account_id: str
    message_ids: list[str] = field(default_factory=list)
    sender_exact: list[str] = field(default_factory=list)
    sender_partial: str | None = None
    dest_exact: list[str] = field(default_factory=list)
    dest_partial: str | None = None
    statuses: list[str] = field(default_factory=list)
    direction: str | None = None
    message_type: str | None = None
    error_code: int | None = None
    carrier_name: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    from_segments: int | None = None
    to_segments: int | None = None
    from_size: int | None = None
    to_size: int | None = None


def _like_digits(partial: str) -> str:
    esc = partial.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def _conds(f: MessageFilter) -> list[Any]:
    c = _r.c
    out: list[Any] = [c.account_id == f.account_id]
    if f.message_ids:
        out.append(c.message_id.in_(f.message_ids))
    if f.sender_exact:
        out.append(c.source_tn.in_(f.sender_exact))
    if f.sender_partial:
        out.append(c.source_tn.like(_like_digits(f.sender_partial), escape="\\"))
    if f.dest_exact:
        out.append(c.recipient.in_(f.dest_exact))
    if f.dest_partial:
        out.append(c.recipient.like(_like_digits(f.dest_partial), escape="\\"))
    if f.statuses:
        out.append(c.status.in_(f.statuses))
    if f.direction:
        out.append(c.direction == f.direction)
    if f.message_type:
        out.append(c.message_type == f.message_type)
    if f.error_code is not None:
        # 0 is how the list shows "no error"; such rows store NULL.
        out.append(
            or_(c.error_code.is_(None), c.error_code == 0)
            if f.error_code == 0
            else c.error_code == f.error_code
        )
    if f.carrier_name:
        out.append(c.carrier_name == f.carrier_name)
    if f.from_time is not None:
        out.append(c.created_at >= f.from_time)
    if f.to_time is not None:
        out.append(c.created_at <= f.to_time)
    if f.from_segments is not None:
        out.append(c.segment_count >= f.from_segments)
    if f.to_segments is not None:
        out.append(c.segment_count <= f.to_segments)
    if f.from_size is not None:
        out.append(c.message_size >= f.from_size)
    if f.to_size is not None:
        out.append(c.message_size <= f.to_size)
    return out


@dataclass(frozen=True, slots=True)
class ListedRecipient:
    message_id: str
    account_id: str
    sender: str
    recipient: str
    status: str
    direction: str
    message_type: str
    segment_count: int
    error_code: int | None
    created_at: datetime
    carrier_name: str | None
    message_size: int
    message_length: int
    attachment_count: int
    recipient_count: int


async def search(
    conn: AsyncConnection,
    f: MessageFilter,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
    count_cap: int | None,
) -> tuple[int, list[ListedRecipient]]:
    conds = _conds(f)
    if count_cap is not None:
        sub = select(_r.c.message_id).where(*conds).limit(count_cap).subquery()
        total = (await conn.execute(select(func.count()).select_from(sub))).scalar_one()
    else:
        total = (
            await conn.execute(select(func.count()).select_from(_r).where(*conds))
        ).scalar_one()
    col = SORT_COLUMNS[sort]
    order = [col.desc() if descending else col.asc()]
    tie = [_r.c.message_id, _r.c.recipient]
    order += [t.desc() if descending else t.asc() for t in tie]
    rows = await conn.execute(
        select(
            _r.c.message_id,
            _r.c.account_id,
            _r.c.source_tn,
            _r.c.recipient,
            _r.c.status,
            _r.c.direction,
            _r.c.message_type,
            _r.c.segment_count,
            _r.c.error_code,
            _r.c.created_at,
            _r.c.carrier_name,
            _r.c.message_size,
            func.length(_m.c.text),
            _r.c.attachment_count,
            _r.c.recipient_count,
        )
        .select_from(_r.join(_m, _m.c.id == _r.c.message_id))
        .where(*conds)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
    items = [
        ListedRecipient(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            aware(r[9]),  # type: ignore[arg-type]
            r[10],
            r[11] or 0,
            r[12] or 0,
            r[13] or 0,
            r[14] or 1,
        )
        for r in rows
    ]
    return total, items
