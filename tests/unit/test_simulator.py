"""The simulated phone network: behaviour resolution, reserved numbers, and submit/inbound flows
against a fake CarrierSink (recording reports, inbound messages and timers) on a migrated
database of each backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.errors import InvalidInput
from openband.network import messaging_errors as codes
from openband.network import sim
from openband.network.messaging import InboundMessage, OutboundMessage, StatusReport
from openband.store import simulator as store
from openband.store.db import Database
from openband.store.schema import accounts, phone_numbers, sim_handset_messages
from tests.support.backends import backends, migrated_database

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
    assert len(codes.ERROR_DESCRIPTIONS) == 76
    assert codes.describe_error(4432) == "rejected-forbidden-country"
    assert codes.describe_error(9902) == "delivery-receipt-expired"
    assert codes.describe_error(1234) == "unknown-error"
    assert codes.reported_after_sending(4720) and codes.reported_after_sending(4775)
    assert codes.reported_after_sending(5620) and codes.reported_after_sending(9902)
    assert not codes.reported_after_sending(4432) and not codes.reported_after_sending(5999)


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
    """network/messaging.CarrierSink: records what the carrier reports and the timers it sets."""

    transaction: AsyncConnection
    reports: list[StatusReport] = field(default_factory=list)
    inbound_msgs: list[InboundMessage] = field(default_factory=list)
    timers: list[tuple[timedelta, str]] = field(default_factory=list)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    async def report(self, reports: Sequence[StatusReport]) -> None:
        self.reports.extend(reports)

    async def inbound(self, message: InboundMessage) -> list[str]:
        self.inbound_msgs.append(message)
        return [f"in-{next(self.counter)}"]

    async def later(self, after: timedelta, ref: str) -> None:
        self.timers.append((after, ref))

    def take_timer(self, prefix: str) -> tuple[timedelta, str]:
        found = [t for t in self.timers if t[1].startswith(prefix)]
        assert len(found) == 1, self.timers
        self.timers.remove(found[0])
        return found[0]

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


@pytest.fixture(scope="module", params=backends())
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database on each backend, with two accounts and their numbers."""
    with migrated_database(request.param, Path(tmp_path_factory.mktemp("sim")), "sim.db") as url:
        _seed(url)
        yield url


def _seed(url: str) -> None:
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

    _run(url, seed)


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
        sender=PLATFORM,
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


def _run_with(url: str, fn: Callable[[FakeSink], Awaitable[object]]) -> FakeSink:
    """Run `fn(sink)` with a FakeSink bound to one transaction; returns the sink."""
    got: list[FakeSink] = []

    async def go(conn: AsyncConnection) -> None:
        sink = FakeSink(conn)
        got.append(sink)
        await fn(sink)

    _run(url, go)
    return got[0]


async def _submit(sink: FakeSink, *msgs: OutboundMessage, carrier: object = None) -> None:
    await (carrier or sim.SimulatorMessaging()).submit(list(msgs), sink)  # type: ignore[attr-defined]


async def _log(conn: AsyncConnection, tn: str, acct: str = ACCT, **kw: object) -> list:  # type: ignore[type-arg]
    return await store.listing(conn, tn, acct, **kw)  # type: ignore[arg-type]


def test_deliver_sms_records_and_reports(db_url: str) -> None:
    tn = handset()
    msg = out(tn, "hi there")

    async def go(sink: FakeSink) -> None:
        await _submit(sink, msg)
        conn = sink.transaction
        assert await _rows(conn, tn) == [("received", msg.message_id, "hi there")]
        msgs = await _log(conn, tn)
        assert msgs[0].peer == PLATFORM and msgs[0].segments == ["hi there"]
        assert await _log(conn, tn, OTHER) == []

    sink = _run_with(db_url, go)
    assert sink.statuses() == ["sent", "delivered"]
    assert all(r.carrier_name == sim.CARRIER_NAME for r in sink.reports)
    assert sink.inbound_msgs == []


def test_a_batch_reports_as_if_one_by_one(db_url: str) -> None:
    a, b = handset(), handset()

    async def go(sink: FakeSink) -> None:
        await _submit(sink, out(a), out(b, mms=True), out("+19195550106"))
        assert [r[0] for r in await _rows(sink.transaction, a)] == ["received"]

    sink = _run_with(db_url, go)
    assert sink.statuses(a) == ["sent", "delivered"]
    assert sink.statuses(b) == ["sending", "sent", "delivered"]
    assert sink.statuses("+19195550106") == [4432]


def test_mms_reports_sending_first(db_url: str) -> None:
    tn = handset()
    sink = _run_with(db_url, lambda s: _submit(s, out(tn, mms=True)))
    assert sink.statuses() == ["sending", "sent", "delivered"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("0101", ["sent", 4720]), ("0102", ["sent", 4775]), ("0106", [4432]), ("0107", [5999])],
)
def test_reserved_failures(db_url: str, line: str, expected: list[object]) -> None:
    tn = f"+1984555{line}"

    async def go(sink: FakeSink) -> None:
        await _submit(sink, out(tn))
        assert await _rows(sink.transaction, tn) == []

    sink = _run_with(db_url, go)
    assert sink.statuses() == expected
    failed = sink.reports[-1]
    assert failed.status == "failed"
    assert failed.description == codes.describe_error(expected[-1])  # type: ignore[arg-type]


def test_never_confirm_expires_with_9902(db_url: str) -> None:
    tn = "+12065550103"
    simulator = sim.SimulatorMessaging(receipt_timeout_seconds=7)
    msg = out(tn)

    async def go(sink: FakeSink) -> None:
        await _submit(sink, msg, carrier=simulator)
        assert sink.statuses() == ["sent"]
        after, ref = sink.take_timer("fail:9902:")
        assert after == timedelta(seconds=7)
        await simulator.on_timer(ref, sink)
        # The handset got it; only the receipt was lost.
        assert await _rows(sink.transaction, tn) == [("received", msg.message_id, "hello")]

    sink = _run_with(db_url, go)
    assert sink.statuses() == ["sent", 9902]


def test_delayed_delivery_is_a_timer(db_url: str) -> None:
    tn = "+13125550104"
    simulator = sim.SimulatorMessaging()
    msg = out(tn)

    async def go(sink: FakeSink) -> None:
        conn = sink.transaction
        await _submit(sink, msg, carrier=simulator)
        assert sink.statuses() == ["sent"]
        assert await _log(conn, tn) == []  # not arrived yet
        after, ref = sink.take_timer("deliver:")
        assert after == timedelta(seconds=sim.RESERVED_DELAY_SECONDS)
        await simulator.on_timer(ref, sink)
        assert [m.direction for m in await _log(conn, tn)] == ["received"]
        await simulator.on_timer(ref, sink)  # a replayed timer does nothing

    sink = _run_with(db_url, go)
    assert sink.statuses() == ["sent", "delivered"]


def test_scripted_delayed_failure(db_url: str) -> None:
    tn = handset()
    simulator = sim.SimulatorMessaging()

    async def go(sink: FakeSink) -> None:
        conn = sink.transaction
        await store.put_script(
            conn, ACCT, tn, sim.Behaviour("fail", 4750, delay_seconds=3).to_json()
        )
        await _submit(sink, out(tn), carrier=simulator)
        assert sink.statuses() == ["sent"]
        await simulator.on_timer(sink.take_timer("fail:4750:")[1], sink)
        assert await _rows(conn, tn) == []

    sink = _run_with(db_url, go)
    assert sink.statuses() == ["sent", 4750]


def test_scripted_behaviour_resolution(db_url: str) -> None:
    tn = handset()

    async def go(conn: AsyncConnection) -> None:
        assert await sim.resolve(conn, ACCT, tn) == sim.DEFAULT
        await store.put_script(conn, ACCT, tn, sim.Behaviour("opt_out").to_json())
        await store.put_script(conn, ACCT, tn, sim.Behaviour("fail", 4720).to_json())  # upsert
        assert await sim.resolve(conn, ACCT, tn) == sim.Behaviour("fail", 4720)
        assert await sim.resolve(conn, OTHER, tn) == sim.DEFAULT  # ACCT's script is ACCT's
        await store.put_script(conn, store.PLATFORM, tn, sim.Behaviour("opt_out").to_json())
        assert await sim.resolve(conn, OTHER, tn) == sim.Behaviour("opt_out")  # the default
        assert (await sim.resolve_many(conn, [(ACCT, tn), (OTHER, "+19195550102")])) == {
            (ACCT, tn): sim.Behaviour("fail", 4720),
            (OTHER, "+19195550102"): sim.Behaviour("opt_out"),
        }
        assert await store.delete_script(conn, ACCT, tn)
        assert not await store.delete_script(conn, ACCT, tn)
        assert await sim.resolve(conn, ACCT, tn) == sim.Behaviour("opt_out")
        assert await store.delete_script(conn, store.PLATFORM, tn)
        assert await sim.resolve(conn, ACCT, tn) == sim.DEFAULT
        # A reserved number's fixed behaviour wins over any stored row.
        await store.put_script(conn, ACCT, "+19195550101", sim.Behaviour().to_json())
        assert (await sim.resolve(conn, ACCT, "+19195550101")).failure_code == 4720

    _run(db_url, go)


def test_auto_reply_reserved_and_delayed(db_url: str) -> None:
    simulator = sim.SimulatorMessaging()
    tn = "+14155550105"
    scripted = handset()

    async def go(sink: FakeSink) -> None:
        conn = sink.transaction
        await _submit(sink, out(tn, "ping"), carrier=simulator)
        assert [(m.sender, m.to, m.text) for m in sink.inbound_msgs] == [
            (tn, (PLATFORM,), "You said: ping")
        ]
        rows = await _rows(conn, tn)
        assert rows[-1] == ("sent", "in-1", "You said: ping")
        assert rows[0][0] == "received"

        behaviour = sim.Behaviour(auto_reply="later", auto_reply_delay_seconds=2)
        await store.put_script(conn, ACCT, scripted, behaviour.to_json())
        await _submit(sink, out(scripted), carrier=simulator)
        assert len(sink.inbound_msgs) == 1
        assert [m.direction for m in await _log(conn, scripted)] == ["received"]
        after, ref = sink.take_timer("reply:")
        assert after == timedelta(seconds=2)
        await simulator.on_timer(ref, sink)
        assert sink.inbound_msgs[-1].text == "later"
        sent = await _log(conn, scripted, direction="sent")
        assert [(m.text, m.message_id) for m in sent] == [("later", "in-2")]

    _run_with(db_url, go)


def test_on_net_is_inbound_and_group_copies_once(db_url: str) -> None:
    off = handset()
    group = (OTHER_TN, off, PLATFORM2)
    url = "https://openband.test/api/v2/users/sim-acct/media/abc/0/cat.png"
    ext = "https://example.com/dog.jpg"

    async def go(sink: FakeSink) -> None:
        simulator = sim.SimulatorMessaging()
        for to in group:  # as the pump hands them: one recipient at a time
            await _submit(
                sink, out(to, "group", mms=True, all_to=group, media=(url, ext)), carrier=simulator
            )

    sink = _run_with(db_url, go)
    assert len(sink.inbound_msgs) == 1
    m = sink.inbound_msgs[0]
    assert m.sender == PLATFORM and m.to == group and m.text == "group"
    # Media URLs pass as they are: core copies the platform's own for each recipient.
    assert m.media == () and m.media_urls == (url, ext)
    assert sink.statuses(OTHER_TN) == ["sending", "delivered"]
    assert sink.statuses(PLATFORM2) == ["sending", "delivered"]
    assert sink.statuses(off) == ["sending", "sent", "delivered"]


def test_on_net_sms_has_no_sending(db_url: str) -> None:
    sink = _run_with(db_url, lambda s: _submit(s, out(OTHER_TN, "yo")))
    assert sink.statuses() == ["delivered"]
    assert sink.inbound_msgs[0].to == (OTHER_TN,) and sink.inbound_msgs[0].media_urls == ()
