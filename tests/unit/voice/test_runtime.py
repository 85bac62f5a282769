"""core/voice/runtime.py: CallRuntime with the simulated network on a VirtualClock.

Real parts: SimulatorVoice (network/sim/voice.py), a migrated SQLite database (a copy of one
migrated per module), the file BlobStore, a Sealer, the outbox (delivery/outbox.enqueue) and Voice
v2's webhook renderer. Fake parts: the speaker (half a second per word) and the BXML fetcher
(answers by URL, or raises FetchError / FetchTooLarge as delivery.fetch does).

Database I/O runs on threads, which a VirtualClock cannot see: `Rig.run` moves the clock from
timer to timer and, between them, lets the runtime's and the simulator's tasks finish (polling
them, not timing them).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from openband.api.voice_v2 import webhook as render_v2
from openband.audio.pcm import Audio
from openband.clock import VirtualClock, iso
from openband.core.voice import effects as fx
from openband.core.voice.model import Call, Creds, Settings, Target
from openband.core.voice.runtime import CallRuntime, open_settings
from openband.delivery.fetch import FetchResult, FetchTooLarge, FetchUnreachable
from openband.network.sim.voice import SimulatorVoice
from openband.network.voice import IncomingCall
from openband.sealing import Sealer, generate_key
from openband.store import calls as repo
from openband.store.blobs import open_store
from openband.store.db import Database, migrate
from openband.store.schema import callback_events

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "9900001"
APP = "5a8b4a43-4b3f-4b9e-9d4b-0d7f5c6a1e01"
PLATFORM_TN = "+19195551000"
HANDSET = "+19195550100"
PUBLIC = "https://ob.example"
APP_BASE = "https://app.example.com"
ANSWER_URL = f"{APP_BASE}/voice/answer"
FALLBACK_URL = f"{APP_BASE}/voice/fallback"
STATUS_URL = f"{APP_BASE}/voice/status"
ANSWER_CREDS = Creds("answer-user", "answer-pass")


def xml(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'.encode()


class FakeSpeaker:
    """Half a second of a constant level per word."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def speak(
        self,
        text: str,
        *,
        voice: str | None = None,
        gender: str | None = None,
        locale: str | None = None,
    ) -> Audio:
        self.said.append(text)
        await asyncio.sleep(0)
        n = round(0.5 * len(text.split()) * 8000)
        return Audio(b"\x10\x27" * n, 8000, f"speech: {text}")


@dataclass
class Request:
    url: str
    method: str
    body: dict[str, Any] | None
    auth: tuple[str, str] | None
    max_bytes: int


class FakeFetcher:
    """Answers BXML fetches by URL: bytes are the body; an exception is raised; an unknown URL
    is unreachable. Bodies over max_bytes raise FetchTooLarge, as delivery.fetch does, unless
    `enforce_cap` is off."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes | Exception] = {}
        self.requests: list[Request] = []
        self.enforce_cap = True

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Any = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 15.0,
        max_bytes: int = 64 * 1024,
        max_redirects: int = 5,
    ) -> FetchResult:
        self.requests.append(
            Request(url, method, orjson.loads(body) if body else None, auth, max_bytes)
        )
        await asyncio.sleep(0)
        answer = self.routes.get(url)
        if answer is None:
            raise FetchUnreachable(url, "connection refused")
        if isinstance(answer, Exception):
            raise answer
        if self.enforce_cap and len(answer) > max_bytes:
            raise FetchTooLarge(url, f"more than {max_bytes} bytes")
        return FetchResult(200, url, "application/xml", answer, {}, 3.0, 0)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("voice-runtime") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


class Rig:
    def __init__(self, workdir: Path, template: Path) -> None:
        path = workdir / "ob.db"
        shutil.copy(template, path)
        self.clock = VirtualClock(START)
        self.speaker = FakeSpeaker()
        self.fetcher = FakeFetcher()
        self.sim = SimulatorVoice(self.clock, self.speaker, self._script, self._platform)
        self.db = Database(f"sqlite:///{path}")
        self.blobs = open_store(self.db, str(workdir / "media"))
        self.sealer = Sealer([generate_key()])
        self.wakes = 0
        self.runtime = CallRuntime(
            db=self.db,
            carrier=self.sim,
            fetcher=self.fetcher,  # type: ignore[arg-type]
            speaker=self.speaker,
            blobs=self.blobs,
            sealer=self.sealer,
            clock=self.clock,
            render=render_v2,
            public_base=PUBLIC + "/",
            node="node-a",
            lease_seconds=30,
            wake_delivery=self._wake,
        )
        self.sim.start(self.runtime)
        self._n = 0

    def _wake(self) -> None:
        self.wakes += 1

    async def _script(self, account_id: str, number: str) -> None:
        return None

    async def _platform(self, tn: str) -> bool:
        return tn == PLATFORM_TN

    async def close(self) -> None:
        await self.runtime.close()
        await self.db.dispose()

    # --- time ---------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Until the simulator's event queues and the runtime's tasks are done (their database
        work runs on threads, which the virtual clock does not wait for)."""
        for _ in range(5000):
            await asyncio.sleep(0)
            busy = any(a.tasks for a in self.runtime.active.values()) or self.runtime.flushes
            if not self.sim._drains and not busy:
                return
            await asyncio.sleep(0.001)
        raise AssertionError("the runtime never settled")

    async def run(self, seconds: float) -> None:
        """Advance the clock by `seconds`, timer by timer, settling after each."""
        target = self.clock.monotonic() + seconds
        await self.settle()
        while (due := self.clock.next_deadline()) is not None and due <= target:
            await self.clock.advance(max(0.0, due - self.clock.monotonic()))
            await self.settle()
        await self.clock.advance(target - self.clock.monotonic())
        await self.settle()

    # --- calls ----------------------------------------------------------------------------------

    def settings(self, answer: Target | None = None) -> Settings:
        return Settings(
            answer=answer or Target(ANSWER_URL, creds=ANSWER_CREDS),
            disconnect=Target(STATUS_URL, creds=ANSWER_CREDS),
        )

    async def insert(
        self,
        *,
        direction: str = "outbound",
        settings: Settings | None = None,
        state: str = "queued",
        call_id: str | None = None,
        node: str | None = "node-a",
        lease_until: datetime | None = None,
        tag: str | None = None,
    ) -> Call:
        self._n += 1
        at = self.clock.now()
        call = Call(
            call_id=call_id or f"c-{self._n:08x}-0000-test",
            account_id=ACCOUNT,
            application_id=APP,
            direction=direction,  # type: ignore[arg-type]
            sender=PLATFORM_TN if direction == "outbound" else HANDSET,
            to=HANDSET if direction == "outbound" else PLATFORM_TN,
            state=state,  # type: ignore[arg-type]
            settings=settings or self.settings(),
            enqueued_time=at if direction == "outbound" else None,
            start_time=at if direction == "inbound" else None,
            last_update=at,
            tag=tag,
            node=node,
            created_at=at,
        )
        row = {
            "id": call.call_id,
            "account_id": call.account_id,
            "application_id": call.application_id,
            "direction": call.direction,
            "from_tn": call.sender,
            "to_tn": call.to,
            "state": call.state,
            "priority": call.priority,
            "tag": call.tag,
            "settings": open_settings(call.settings.to_json(), self.sealer.seal),
            "parent_call_id": None,
            "enqueued_time": call.enqueued_time,
            "start_time": call.start_time,
            "last_update": at,
            "node": node,
            "lease_until": lease_until or self.runtime.lease_until(),
            "created_at": at,
        }
        async with self.db.begin() as conn:
            await repo.insert(conn, row)
        return call

    async def outbound(self, answer: bytes | Exception | None, **kw: Any) -> str:
        """Place a call to a handset that answers after 1 s; `answer` is what answerUrl gives."""
        if answer is not None:
            self.fetcher.routes[ANSWER_URL] = answer
        call = await self.insert(**kw)
        creds = call.settings.answer.creds if call.settings.answer else None
        await self.runtime.queue(call, creds, 0.0)
        return call.call_id

    # --- what was stored ------------------------------------------------------------------------

    async def row(self, call_id: str) -> dict[str, Any]:
        async with self.db.connect() as conn:
            row = await repo.get(conn, call_id)
        assert row is not None
        return row

    async def history(self, call_id: str) -> list[dict[str, Any]]:
        await self.runtime.flush_history()  # as GET /sim/v1/calls/{id} does
        async with self.db.connect() as conn:
            return await repo.history(conn, call_id)

    async def outbox(self) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = await conn.execute(select(callback_events).order_by(callback_events.c.seq))
            out = [dict(r) for r in rows.mappings()]
        for r in out:
            r["body"] = orjson.loads(r["payload"])
        return out

    async def recordings(self, call_id: str) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            return await repo.recordings(conn, ACCOUNT, call_id=call_id)

    async def blob(self, ref: str) -> bytes:
        stream = await self.blobs.open(ref)
        return b"".join([bytes(c) async for c in stream])


def rig_test(fn: Callable[[Rig], Awaitable[None]]) -> Callable[[Path, Path], None]:
    """A test of a fresh Rig (its own copy of the database), run on its own event loop."""

    def run(tmp_path: Path, template_db: Path) -> None:
        async def go() -> None:
            rig = Rig(tmp_path, template_db)
            try:
                await fn(rig)
            finally:
                await rig.close()

        asyncio.run(go())

    run.__name__ = run.__qualname__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def at(seconds: float) -> str:
    return iso(START + timedelta(seconds=seconds)) or ""


# --- outbound: answer, speak, hang up -------------------------------------------------------------


@rig_test
async def test_an_answered_outbound_call_fetches_its_answer_bxml_speaks_and_hangs_up(
    rig: Rig,
) -> None:
    call_id = await rig.outbound(xml("<SpeakSentence>Hello from OpenBand</SpeakSentence>"))
    await rig.run(10)

    [req] = rig.fetcher.requests
    assert (req.url, req.method, req.auth) == (ANSWER_URL, "POST", ("answer-user", "answer-pass"))
    assert req.max_bytes == 64 * 1024
    assert req.body is not None
    assert req.body["eventType"] == "answer"
    assert req.body["callId"] == call_id
    assert (req.body["from"], req.body["to"], req.body["direction"]) == (
        PLATFORM_TN,
        HANDSET,
        "outbound",
    )
    assert req.body["answerTime"] == at(1)  # the handset answers after 1 s

    # The far end heard the sentence (three words: 1.5 s), then the document ended (hangup).
    assert [(h.label, round(h.seconds, 3)) for h in rig.sim.heard(call_id)] == [
        ("speech: Hello from OpenBand", 1.5)
    ]
    row = await rig.row(call_id)
    assert row["state"] == "disconnected"
    assert row["disconnect_cause"] == "hangup"
    assert row["error_message"] is None
    assert (iso(row["answer_time"]), iso(row["end_time"])) == (at(1), at(2.5))
    assert row["node"] is None and row["lease_until"] is None
    assert call_id not in rig.runtime.active

    [event] = await rig.outbox()
    assert (event["kind"], event["event_type"], event["url"]) == ("voice", "disconnect", STATUS_URL)
    assert event["ordering_key"] == call_id
    assert event["auth_user"] == "answer-user"
    assert rig.sealer.open(event["auth_password"]) == "answer-pass"
    body = event["body"]
    assert body["eventType"] == "disconnect"
    assert body["callId"] == call_id
    assert body["cause"] == "hangup"
    assert body["endTime"] == at(2.5)
    assert "errorMessage" not in body
    assert rig.wakes >= 1

    kinds = [h["kind"] for h in await rig.history(call_id)]
    for kind in ("ringing", "answered", "webhook", "verb", "heard", "end"):
        assert kind in kinds
    assert kinds[-2:] == ["end", "webhook"]  # the disconnect webhook, queued as it ended


# --- webhooks that fail -----------------------------------------------------------------------


@rig_test
async def test_invalid_bxml_ends_the_call_with_invalid_bxml_and_its_error_message(rig: Rig) -> None:
    call_id = await rig.outbound(xml("<SpeakSentence>Hi</SpeakSentence><Bogus/>"))
    await rig.run(10)
    row = await rig.row(call_id)
    assert row["disconnect_cause"] == "invalid-bxml"
    assert row["error_message"] and "Bogus" in row["error_message"]
    assert rig.sim.heard(call_id) == []  # nothing of an invalid document runs
    [event] = await rig.outbox()
    assert event["body"]["cause"] == "invalid-bxml"
    assert event["body"]["errorMessage"] == row["error_message"]


@rig_test
async def test_an_unreachable_answer_url_without_fallback_ends_with_callback_error(
    rig: Rig,
) -> None:
    call_id = await rig.outbound(None)
    await rig.run(10)
    assert [r.url for r in rig.fetcher.requests] == [ANSWER_URL]
    row = await rig.row(call_id)
    assert row["disconnect_cause"] == "callback-error"
    assert "connection refused" in row["error_message"]
    [event] = await rig.outbox()
    assert event["body"]["cause"] == "callback-error"
    assert event["body"]["errorMessage"] == row["error_message"]


@rig_test
async def test_an_unreachable_answer_url_falls_back_to_its_fallback(rig: Rig) -> None:
    rig.fetcher.routes[FALLBACK_URL] = xml("<SpeakSentence>From the fallback</SpeakSentence>")
    answer = Target(
        ANSWER_URL,
        creds=ANSWER_CREDS,
        fallback_url=FALLBACK_URL,
        fallback_creds=Creds("fb-user", "fb-pass"),
    )
    call_id = await rig.outbound(None, settings=rig.settings(answer))
    await rig.run(10)
    assert [(r.url, r.auth) for r in rig.fetcher.requests] == [
        (ANSWER_URL, ("answer-user", "answer-pass")),
        (FALLBACK_URL, ("fb-user", "fb-pass")),
    ]
    assert [h.label for h in rig.sim.heard(call_id)] == ["speech: From the fallback"]
    assert (await rig.row(call_id))["disconnect_cause"] == "hangup"


@pytest.mark.parametrize("fetch_caps", [True, False], ids=["fetch-refuses", "parser-refuses"])
def test_bxml_over_64_kb_ends_with_invalid_bxml(
    fetch_caps: bool, tmp_path: Path, template_db: Path
) -> None:
    async def go() -> None:
        rig = Rig(tmp_path, template_db)
        try:
            rig.fetcher.enforce_cap = fetch_caps
            pad = "<!--" + "x" * (64 * 1024) + "-->"
            call_id = await rig.outbound(xml(f"<SpeakSentence>Hi</SpeakSentence>{pad}"))
            await rig.run(10)
            row = await rig.row(call_id)
            assert row["disconnect_cause"] == "invalid-bxml"
            assert "64 KB" in row["error_message"] or "65536" in row["error_message"]
            assert rig.sim.heard(call_id) == []
        finally:
            await rig.close()

    asyncio.run(go())


# --- recordings -------------------------------------------------------------------------------


@rig_test
async def test_a_record_stores_its_audio_and_a_row_and_sends_recording_available(
    rig: Rig,
) -> None:
    call_id = await rig.outbound(
        xml(
            '<Record recordingAvailableUrl="../recordings/available" maxDuration="5" tag="vm"/>'
            "<SpeakSentence>Thanks</SpeakSentence>"
        )
    )
    await rig.run(2)  # answered at 1 s: recording
    await rig.sim.say(call_id, "this is my message")  # two seconds of speech
    await rig.run(10)

    [rec] = await rig.recordings(call_id)
    assert rec["account_id"] == ACCOUNT
    assert rec["application_id"] == APP
    assert (rec["from_tn"], rec["to_tn"], rec["direction"]) == (PLATFORM_TN, HANDSET, "outbound")
    assert (rec["file_format"], rec["status"], rec["channels"]) == ("wav", "complete", 1)
    assert rec["duration"] == pytest.approx(5.0)  # maxDuration
    assert (iso(rec["start_time"]), iso(rec["end_time"])) == (at(1), at(6))
    assert rec["tag"] == "vm"
    stored = await rig.blob(rec["blob_ref"])
    assert stored[:4] == b"RIFF" and len(stored) == rec["size"]

    events = await rig.outbox()
    assert [e["event_type"] for e in events] == ["recordingAvailable", "disconnect"]
    available = events[0]
    assert available["url"] == f"{APP_BASE}/recordings/available"
    body = available["body"]
    assert body["recordingId"] == rec["id"]
    assert body["mediaUrl"] == (
        f"{PUBLIC}/api/v2/accounts/{ACCOUNT}/calls/{call_id}/recordings/{rec['id']}/media"
    )
    assert (body["status"], body["fileFormat"], body["duration"]) == ("complete", "wav", "PT5S")
    assert body["tag"] == "vm"
    # The document went on after the Record (no recordCompleteUrl): Thanks, then hang up.
    assert [h.label for h in rig.sim.heard(call_id)] == ["speech: Thanks"]
    assert events[1]["body"]["cause"] == "hangup"
    assert events[1]["body"]["tag"] == "vm"  # the Record's tag stays the call's


@rig_test
async def test_no_record_complete_when_the_far_end_hangs_up_during_a_record(rig: Rig) -> None:
    """Bandwidth: recordComplete when <Record> ends, "not on hangup"; recordingAvailable still."""
    call_id = await rig.outbound(
        xml(
            '<Record recordCompleteUrl="/done" recordingAvailableUrl="/available" '
            'maxDuration="30"/>'
        )
    )
    fed: list[object] = []
    feed = rig.runtime._feed

    async def spy(a: Any, event: Any) -> None:
        fed.append(event)
        await feed(a, event)

    rig.runtime._feed = spy  # type: ignore[method-assign]
    await rig.run(2)
    await rig.sim.say(call_id, "call me back")
    await rig.run(4)
    await rig.sim.hang_up_handset(call_id)
    await rig.run(10)
    # The interpreter never hears of the recording's end, so no recordComplete is even begun
    # (a fetch begun here would race the disconnect and could reach the app).
    assert not [e for e in fed if isinstance(e, fx.Recorded)]
    assert [r.url for r in rig.fetcher.requests] == [ANSWER_URL]  # no /done
    assert [e["event_type"] for e in await rig.outbox()] == ["recordingAvailable", "disconnect"]
    assert len(await rig.recordings(call_id)) == 1


# --- inbound ----------------------------------------------------------------------------------


async def _inbound(rig: Rig, answer: bytes) -> str:
    rig.fetcher.routes[ANSWER_URL] = answer

    async def incoming(ev: IncomingCall) -> None:
        call = await rig.insert(direction="inbound", state="initiated", call_id=ev.call_id)
        await rig.runtime.start_incoming(call, ANSWER_CREDS)

    rig.runtime.on_incoming(incoming)
    call_id = "c-0000abcd-inbound-test"
    await rig.sim.dial(ACCOUNT, HANDSET, PLATFORM_TN, call_id)
    await rig.run(10)
    return call_id


@rig_test
async def test_an_inbound_call_is_answered_by_its_first_sentence(rig: Rig) -> None:
    call_id = await _inbound(rig, xml("<SpeakSentence>Welcome</SpeakSentence>"))
    [req] = rig.fetcher.requests
    assert req.body is not None and req.body["eventType"] == "initiate"
    assert [h.label for h in rig.sim.heard(call_id)] == ["speech: Welcome"]
    row = await rig.row(call_id)
    assert (row["state"], row["disconnect_cause"]) == ("disconnected", "hangup")
    assert iso(row["answer_time"]) == at(0)


@rig_test
async def test_an_inbound_call_answered_and_ended_in_one_document_hangs_up(rig: Rig) -> None:
    call_id = await _inbound(rig, xml("<StartRecording/>"))
    row = await rig.row(call_id)
    assert (row["state"], row["disconnect_cause"]) == ("disconnected", "hangup")


# --- nodes that stopped -------------------------------------------------------------------------


@rig_test
async def test_reap_ends_the_calls_of_a_node_whose_lease_passed(rig: Rig) -> None:
    past = START - timedelta(seconds=5)
    dead = await rig.insert(state="answered", node="node-dead", lease_until=past, tag="t1")
    alive = await rig.insert(
        state="answered", node="node-b", lease_until=START + timedelta(seconds=30)
    )
    assert await rig.runtime.reap() == 1
    assert await rig.runtime.reap() == 0  # once

    row = await rig.row(dead.call_id)
    assert (row["state"], row["disconnect_cause"]) == ("disconnected", "error")
    assert "node-dead" in row["error_message"]
    assert iso(row["end_time"]) == at(0)
    assert row["node"] is None and row["lease_until"] is None
    assert (await rig.row(alive.call_id))["state"] == "answered"

    [event] = await rig.outbox()
    assert (event["event_type"], event["url"], event["auth_user"]) == (
        "disconnect",
        STATUS_URL,
        "answer-user",
    )
    assert rig.sealer.open(event["auth_password"]) == "answer-pass"
    body = event["body"]
    assert (body["callId"], body["cause"], body["tag"]) == (dead.call_id, "error", "t1")
    assert body["errorMessage"] == row["error_message"]
    assert rig.wakes == 1
    assert [h["kind"] for h in await rig.history(dead.call_id)] == ["end"]


@rig_test
async def test_reap_leaves_the_calls_this_node_runs(rig: Rig) -> None:
    call_id = await rig.outbound(xml('<Pause duration="60"/>'))
    await rig.run(2)
    assert call_id in rig.runtime.active
    async with rig.db.begin() as conn:  # its lease passed (nobody renewed it), but it is ours
        await repo.set_fields(conn, call_id, lease_until=START - timedelta(seconds=1))
    assert await rig.runtime.reap() == 0
    assert (await rig.row(call_id))["state"] == "answered"


@rig_test
async def test_renew_extends_only_the_calls_this_node_runs(rig: Rig) -> None:
    """A node restarted under the same name must not keep alive a call it lost: its lease runs
    out and it is reaped."""
    call_id = await rig.outbound(xml('<Pause duration="60"/>'))
    await rig.run(2)
    lost = await rig.insert(
        state="answered", node=rig.runtime.node, lease_until=START + timedelta(seconds=1)
    )
    await rig.runtime.renew()
    renewed = iso((await rig.row(call_id))["lease_until"])
    assert renewed is not None and renewed > at(20)
    assert iso((await rig.row(lost.call_id))["lease_until"]) == at(1)


def test_stored_settings_seal_every_webhook_password() -> None:
    stored = {
        "answer": {"url": "https://a", "creds": {"username": "u", "password": "p1"}},
        "disconnect": {"url": "https://d", "fallbackCreds": {"username": "u", "password": "p2"}},
        "machineDetection": {
            "callbackUrl": "https://m",
            "password": "p3",
            "fallbackPassword": "p4",
        },
    }
    sealed = open_settings(stored, lambda v: f"sealed({v})")
    text = orjson.dumps(sealed).decode()
    assert all(f"sealed(p{i})" in text for i in range(1, 5)), text
    assert '"p1"' not in text and '"p3"' not in text
    assert open_settings({"answer": None}, str.upper)["machineDetection"] is None
