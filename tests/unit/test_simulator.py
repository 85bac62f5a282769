"""The simulated phone network: behaviour resolution, reserved numbers, and submit/inbound flows
against a fake CarrierSink on a migrated SQLite database."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.errors import InvalidInput
from openband.network import simulator as sim
from openband.network.base import InboundMessage, OutboundMessage, StatusReport
from openband.store.db import Database, migrate
from openband.store.schema import accounts, jobs, media, phone_numbers, sim_handset_messages

# --- pure rules ----------------------------------------------------------------------------------


def test_reserved_numbers_in_any_npa() -> None:
    assert sim.reserved("+19195550101") is sim.RESERVED["0101"]
    assert sim.reserved("+12125550101") is sim.RESERVED["0101"]
    assert sim.reserved("+19195550101").behaviour.failure_code == 4720  # type: ignore[union-attr]
    assert sim.reserved("+19195550100").behaviour == sim.DEFAULT  # type: ignore[union-attr]
    assert sim.reserved("+19195550108") is None  # 0108-0199: ordinary handsets today
    assert sim.reserved("+19195550201") is None
    assert sim.reserved("+19195560101") is None
    assert sim.reserved("+441234550101") is None
    assert sim.reserved("19195550101") is None


def test_reserved_table() -> None:
    codes = {line: r.behaviour.failure_code for line, r in sim.RESERVED.items()}
    assert codes == {
        "0100": None,
        "0101": 4720,
        "0102": 4775,
        "0103": 9902,
        "0104": None,
        "0105": None,
        "0106": 4432,
        "0107": 5999,
    }
    assert sim.RESERVED["0104"].behaviour.delay_seconds == 5.0
    assert sim.RESERVED["0105"].behaviour.auto_reply == "You said: {text}"
    assert sim.RESERVED["0103"].behaviour.mode == "never_confirm"
    for r in sim.RESERVED.values():
        r.behaviour.validate()


def test_error_table_and_timing() -> None:
    assert len(sim.ERROR_DESCRIPTIONS) == 76
    assert sim.describe_error(4432) == "rejected-forbidden-country"
    assert sim.describe_error(9902) == "delivery-receipt-expired"
    assert sim.describe_error(1234) == "unknown-error"
    assert sim.reported_after_sending(4720) and sim.reported_after_sending(4775)
    assert sim.reported_after_sending(5620) and sim.reported_after_sending(9902)
    assert not sim.reported_after_sending(4432) and not sim.reported_after_sending(5999)


@pytest.mark.parametrize(
    ("behaviour", "field"),
    [
        (sim.Behaviour("fail"), "errorCode"),
        (sim.Behaviour("fail", 1234), "errorCode"),
        (sim.Behaviour("opt_out", 4720), "errorCode"),
        (sim.Behaviour("bogus"), "mode"),  # type: ignore[arg-type]
        (sim.Behaviour(delay_seconds=-1), "delaySeconds"),
        (sim.Behaviour(auto_reply_delay_seconds=10**6), "autoReplyDelaySeconds"),
        (sim.Behaviour(auto_reply="x" * 2049), "autoReply"),
    ],
)
def test_behaviour_validation(behaviour: sim.Behaviour, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        behaviour.validate()
    assert exc.value.field == field


def test_behaviour_json_roundtrip_and_failure_codes() -> None:
    b = sim.Behaviour("fail", 4720, 2.5, "hi {text}", 1.0)
    assert sim.Behaviour.from_json(b.to_json()) == b
    assert sim.Behaviour.from_json(None) == sim.DEFAULT
    assert sim.Behaviour.from_json({"mode": "weird"}) == sim.DEFAULT
    assert sim.Behaviour("opt_out").failure_code == 4775
    assert sim.Behaviour("never_confirm").failure_code == 9902
    assert sim.Behaviour().failure_code is None


# --- flows against a fake sink -----------------------------------------------------------------


@dataclass
class FakeSink:
    reports: list[StatusReport] = field(default_factory=list)
    inbound_msgs: list[InboundMessage] = field(default_factory=list)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    async def report(self, conn: AsyncConnection, report: StatusReport) -> None:
        self.reports.append(report)

    async def inbound(self, conn: AsyncConnection, message: InboundMessage) -> list[str]:
        self.inbound_msgs.append(message)
        return [f"in-{next(self.counter)}"]

    def statuses(self, recipient: str | None = None) -> list[str | int]:
        return [
            r.status if r.error_code is None else r.error_code
            for r in self.reports
            if recipient is None or r.recipient == recipient
        ]


ACCT = "sim-acct"
OTHER = "sim-other"
PLATFORM = "+19195551000"
PLATFORM2 = "+19195551001"
OTHER_TN = "+19195551002"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('sim')) / 'sim.db'}"
    migrate(url)

    async def seed(conn: AsyncConnection) -> None:
        ts = now()
        for acct in (ACCT, OTHER):
            await conn.execute(accounts.insert().values(id=acct, name="", limits={}, created_at=ts))
        for tn, acct in ((PLATFORM, ACCT), (PLATFORM2, ACCT), (OTHER_TN, OTHER)):
            await conn.execute(
                phone_numbers.insert().values(
                    tn=tn,
                    account_id=acct,
                    npa=tn[2:5],
                    nxx=tn[5:8],
                    status="Inservice",
                    created_at=ts,
                    updated_at=ts,
                )
            )
        await conn.execute(
            media.insert().values(
                account_id=ACCT,
                media_id="abc/0/cat.png",
                content_type="image/png",
                size=3,
                content=b"PNG",
                created_at=ts,
                expires_at=ts + timedelta(hours=1),
            )
        )

    _run(url, seed)
    return url


def _run(url: str, fn: Callable[[AsyncConnection], Awaitable[object]]) -> object:
    async def go() -> object:
        db = Database(url)
        try:
            async with db.begin() as conn:
                return await fn(conn)
        finally:
            await db.dispose()

    return asyncio.run(go())


_ids = itertools.count(1)


def out(to: str, text: str = "hello", *, mms: bool = False, **kw: object) -> OutboundMessage:
    all_to = kw.pop("all_to", (to,))
    media_urls = kw.pop("media", ())
    return OutboundMessage(
        message_id=f"m{next(_ids):05d}",
        account_id=ACCT,
        application_id="app",
        from_tn=PLATFORM,
        to=to,
        all_to=all_to,  # type: ignore[arg-type]
        text=text,
        media=media_urls,  # type: ignore[arg-type]
        parts=(text,),
        segment_count=1,
        encoding="GSM-7",
        message_type="mms" if mms else "sms",
    )


_handsets = itertools.count(2000)


def handset() -> str:
    return f"+1984555{next(_handsets):04d}"


async def _rows(conn: AsyncConnection, tn: str) -> list[tuple[str, str | None, str]]:
    q = select(sim_handset_messages).where(sim_handset_messages.c.handset == tn)
    q = q.order_by(sim_handset_messages.c.id)
    return [(r.direction, r.message_id, r.text) for r in await conn.execute(q)]


async def _sim_jobs(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(select(jobs.c.ref).where(jobs.c.kind == sim.JOB_KIND))
    return [r.ref for r in rows]


async def _take_job(conn: AsyncConnection, prefix: str) -> str:
    refs = [r for r in await _sim_jobs(conn) if r.startswith(prefix)]
    assert len(refs) == 1, refs
    await conn.execute(jobs.delete().where(jobs.c.ref == refs[0]))
    return refs[0]


def test_deliver_sms_records_and_reports(db_url: str) -> None:
    tn, sink = handset(), FakeSink()
    msg = out(tn, "hi there")

    async def go(conn: AsyncConnection) -> None:
        await sim.Simulator().submit(conn, msg, sink)
        assert await _rows(conn, tn) == [("received", msg.message_id, "hi there")]
        msgs = await sim.handset_messages(conn, tn, ACCT)
        assert msgs[0].peer == PLATFORM and msgs[0].segments == ["hi there"]
        assert await sim.handset_messages(conn, tn, OTHER) == []

    _run(db_url, go)
    assert sink.statuses() == ["sent", "delivered"]
    assert all(r.carrier_name == sim.CARRIER_NAME for r in sink.reports)
    assert sink.inbound_msgs == []


def test_mms_reports_sending_first(db_url: str) -> None:
    tn, sink = handset(), FakeSink()
    _run(db_url, lambda c: sim.Simulator().submit(c, out(tn, mms=True), sink))
    assert sink.statuses() == ["sending", "sent", "delivered"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("0101", ["sent", 4720]), ("0102", ["sent", 4775]), ("0106", [4432]), ("0107", [5999])],
)
def test_reserved_failures(db_url: str, line: str, expected: list[object]) -> None:
    tn, sink = f"+1984555{line}", FakeSink()

    async def go(conn: AsyncConnection) -> None:
        await sim.Simulator().submit(conn, out(tn), sink)
        assert await _rows(conn, tn) == []

    _run(db_url, go)
    assert sink.statuses() == expected
    failed = sink.reports[-1]
    assert failed.status == "failed" and failed.description == sim.describe_error(expected[-1])  # type: ignore[arg-type]


def test_never_confirm_expires_with_9902(db_url: str) -> None:
    tn, sink = "+12065550103", FakeSink()
    simulator = sim.Simulator(receipt_timeout_seconds=7)
    msg = out(tn)

    async def go(conn: AsyncConnection) -> None:
        await simulator.submit(conn, msg, sink)
        assert sink.statuses() == ["sent"]
        run_at = (
            await conn.execute(select(jobs.c.run_at).where(jobs.c.kind == sim.JOB_KIND))
        ).scalar_one()
        if run_at.tzinfo is None:
            run_at = run_at.replace(tzinfo=now().tzinfo)
        assert 5 < (run_at - now()).total_seconds() <= 7
        ref = await _take_job(conn, "fail:9902:")
        await simulator.run_event(conn, ref, sink)
        # The handset got it; only the receipt was lost.
        assert await _rows(conn, tn) == [("received", msg.message_id, "hello")]

    _run(db_url, go)
    assert sink.statuses() == ["sent", 9902]


def test_delayed_delivery_is_a_durable_job(db_url: str) -> None:
    tn, sink = "+13125550104", FakeSink()
    simulator = sim.Simulator()
    msg = out(tn)

    async def go(conn: AsyncConnection) -> None:
        await simulator.submit(conn, msg, sink)
        assert sink.statuses() == ["sent"]
        assert await sim.handset_messages(conn, tn, ACCT) == []  # not arrived yet
        ref = await _take_job(conn, "deliver:")
        await simulator.run_event(conn, ref, sink)
        assert [m.direction for m in await sim.handset_messages(conn, tn, ACCT)] == ["received"]
        await simulator.run_event(conn, ref, sink)  # a replayed event does nothing

    _run(db_url, go)
    assert sink.statuses() == ["sent", "delivered"]


def test_scripted_delayed_failure(db_url: str) -> None:
    tn, sink = handset(), FakeSink()
    simulator = sim.Simulator()

    async def go(conn: AsyncConnection) -> None:
        await sim.put_behaviour(conn, tn, sim.Behaviour("fail", 4750, delay_seconds=3))
        await simulator.submit(conn, out(tn), sink)
        assert sink.statuses() == ["sent"]
        await simulator.run_event(conn, await _take_job(conn, "fail:4750:"), sink)
        assert await _rows(conn, tn) == []

    _run(db_url, go)
    assert sink.statuses() == ["sent", 4750]


def test_scripted_behaviour_resolution(db_url: str) -> None:
    tn = handset()

    async def go(conn: AsyncConnection) -> None:
        assert await sim.resolve(conn, tn) == sim.DEFAULT
        await sim.put_behaviour(conn, tn, sim.Behaviour("opt_out"))
        await sim.put_behaviour(conn, tn, sim.Behaviour("fail", 4720))  # upsert
        assert await sim.resolve(conn, tn) == sim.Behaviour("fail", 4720)
        assert await sim.delete_behaviour(conn, tn)
        assert not await sim.delete_behaviour(conn, tn)
        assert await sim.resolve(conn, tn) == sim.DEFAULT
        # A reserved number's fixed behaviour wins over any stored row.
        await sim.put_behaviour(conn, "+19195550101", sim.Behaviour())
        assert (await sim.resolve(conn, "+19195550101")).failure_code == 4720

    _run(db_url, go)


def test_auto_reply_reserved_and_delayed(db_url: str) -> None:
    sink = FakeSink()
    simulator = sim.Simulator()
    tn = "+14155550105"
    scripted = handset()

    async def go(conn: AsyncConnection) -> None:
        await simulator.submit(conn, out(tn, "ping"), sink)
        assert [(m.from_tn, m.to, m.text) for m in sink.inbound_msgs] == [
            (tn, (PLATFORM,), "You said: ping")
        ]
        rows = await _rows(conn, tn)
        assert rows[-1] == ("sent", "in-1", "You said: ping")
        assert rows[0][0] == "received"

        await sim.put_behaviour(
            conn, scripted, sim.Behaviour(auto_reply="later", auto_reply_delay_seconds=2)
        )
        await simulator.submit(conn, out(scripted), sink)
        assert len(sink.inbound_msgs) == 1
        assert [m.direction for m in await sim.handset_messages(conn, scripted, ACCT)] == [
            "received"
        ]
        await simulator.run_event(conn, await _take_job(conn, "reply:"), sink)
        assert sink.inbound_msgs[-1].text == "later"
        sent = await sim.handset_messages(conn, scripted, ACCT, direction="sent")
        assert [(m.text, m.message_id) for m in sent] == [("later", "in-2")]

    _run(db_url, go)


def test_on_net_is_inbound_and_group_copies_once(db_url: str) -> None:
    sink = FakeSink()
    simulator = sim.Simulator()
    off = handset()
    group = (OTHER_TN, off, PLATFORM2)
    url = "https://openband.test/api/v2/users/sim-acct/media/abc/0/cat.png"
    ext = "https://example.com/dog.jpg"

    async def go(conn: AsyncConnection) -> None:
        for to in group:
            await simulator.submit(
                conn, out(to, "group", mms=True, all_to=group, media=(url, ext)), sink
            )

    _run(db_url, go)
    assert len(sink.inbound_msgs) == 1
    m = sink.inbound_msgs[0]
    assert m.from_tn == PLATFORM and m.to == group and m.text == "group"
    assert [(i.content, i.content_type, i.name) for i in m.media] == [
        (b"PNG", "image/png", "cat.png")
    ]
    assert m.media_urls == (ext,)
    assert sink.statuses(OTHER_TN) == ["sending", "delivered"]
    assert sink.statuses(PLATFORM2) == ["sending", "delivered"]
    assert sink.statuses(off) == ["sending", "sent", "delivered"]


def test_on_net_sms_has_no_sending(db_url: str) -> None:
    sink = FakeSink()
    _run(db_url, lambda c: sim.Simulator().submit(c, out(OTHER_TN, "yo"), sink))
    assert sink.statuses() == ["delivered"]
    assert sink.inbound_msgs[0].to == (OTHER_TN,) and sink.inbound_msgs[0].media_urls == ()


def test_other_accounts_media_is_not_read(db_url: str) -> None:
    sink = FakeSink()
    url = "https://openband.test/api/v2/users/sim-acct/media/abc/0/cat.png"
    msg = OutboundMessage(
        "mx", OTHER, None, OTHER_TN, PLATFORM, (PLATFORM,), "", (url,), ("",), 1, "GSM-7", "mms"
    )
    _run(db_url, lambda c: sim.Simulator().submit(c, msg, sink))
    assert sink.inbound_msgs[0].media == () and sink.inbound_msgs[0].media_urls == (url,)


def test_handset_send_records_per_platform_number(db_url: str) -> None:
    sink = FakeSink()
    tn = handset()

    async def go(conn: AsyncConnection) -> None:
        ids = await sim.handset_send(
            conn, sink, handset=tn, to=(PLATFORM,), owners={PLATFORM: ACCT}, text="x" * 170
        )
        assert ids == ["in-1"]
        (row,) = await sim.handset_messages(conn, tn, ACCT)
        assert row.direction == "sent" and row.message_id == "in-1" and len(row.segments) == 2

    _run(db_url, go)
    assert sink.inbound_msgs[0].segment_count == 2


def test_unknown_event_raises(db_url: str) -> None:
    async def go(conn: AsyncConnection) -> None:
        with pytest.raises(ValueError):
            await sim.Simulator().run_event(conn, "bogus:1", FakeSink())
        await sim.Simulator().run_event(conn, "deliver:999999", FakeSink())  # stale: no-op

    _run(db_url, go)
