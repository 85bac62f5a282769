"""network/sim/voice.py: the simulated phone network as a voice carrier, in virtual time.

Pure: a VirtualClock, a sink that records events (and can react as the call engine would), a
speaker whose speech is a constant level for a length set by the text. Recordings are mixed by
openband.audio for real, so the digits pressed are found again in them by its DTMF detector.
"""

from __future__ import annotations

import array
import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from openband.audio.dtmf import detect
from openband.clock import VirtualClock
from openband.errors import InvalidInput
from openband.network.sim.call_scripts import CallAction, CallScript
from openband.network.sim.voice import CallStateError, Heard, SimulatorVoice, UnknownCall
from openband.network.voice import (
    Answered,
    Audio,
    Disconnected,
    Dtmf,
    IncomingCall,
    OutboundCall,
    PlaybackDone,
    RecordingDone,
    VoiceEvent,
)

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RATE = 8000
ACCOUNT = "9900001"
HANDSET = "+19195550100"
PLATFORM_TN = "+19195551000"
OTHER_APP_TN = "+19195552000"
SPEECH_LEVEL = 3000
PLAY_LEVEL = 5000


def asynctest(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return run


def level(seconds: float, value: int, label: str) -> Audio:
    return Audio(array.array("h", [value] * round(seconds * RATE)).tobytes(), RATE, label)


class FakeSpeaker:
    """Speech lasts half a second per word, at a constant level."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str | None]] = []

    async def speak(
        self,
        text: str,
        *,
        voice: str | None = None,
        gender: str | None = None,
        locale: str | None = None,
    ) -> Audio:
        self.said.append((text, voice))
        await asyncio.sleep(0)  # synthesis is asynchronous
        return level(0.5 * len(text.split()), SPEECH_LEVEL, f"speech: {text}")


class Sink:
    """Records events; `react` lets a test answer them as the call engine would."""

    def __init__(self, keep: bool = True) -> None:
        self.events: list[VoiceEvent] = []
        self.keep = keep
        self.counts: dict[str, int] = {}
        self.react: Callable[[VoiceEvent], Awaitable[None]] | None = None

    async def event(self, event: VoiceEvent) -> None:
        name = type(event).__name__
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.keep:
            self.events.append(event)
        if self.react is not None:
            await self.react(event)

    def of(self, call_id: str) -> list[tuple[str, float]]:
        """(event type, seconds since START) for one call."""
        return [
            (type(e).__name__, secs(e.ended_at if isinstance(e, RecordingDone) else e.at))
            for e in self.events
            if e.call_id == call_id
        ]

    def last(self, kind: type, call_id: str | None = None) -> Any:
        found = [e for e in self.events if isinstance(e, kind)]
        if call_id is not None:
            found = [e for e in found if e.call_id == call_id]
        assert found, f"no {kind.__name__}"
        return found[-1]


def secs(at: datetime) -> float:
    return round((at - START).total_seconds(), 6)


class Net:
    def __init__(self, scripts: dict[str, CallScript] | None = None, **kw: Any) -> None:
        self.clock = VirtualClock(START)
        self.sink = Sink(keep=kw.pop("keep", True))
        self.speaker = FakeSpeaker()
        self.scripts = scripts or {}
        self.platform = {PLATFORM_TN, OTHER_APP_TN}
        self.lookups: list[tuple[str, str]] = []
        self.sim = SimulatorVoice(self.clock, self.speaker, self._script, self._platform, **kw)
        self.sim.start(self.sink)
        self._n = 0

    async def _script(self, account_id: str, number: str) -> CallScript | None:
        self.lookups.append((account_id, number))
        return self.scripts.get(number)

    async def _platform(self, tn: str) -> bool:
        return tn in self.platform

    async def place(self, to: str = HANDSET, ring_timeout: float = 30.0) -> str:
        self._n += 1
        call_id = f"c-{self._n:08x}-test"
        await self.sim.place(OutboundCall(call_id, ACCOUNT, PLATFORM_TN, to, ring_timeout))
        return call_id

    async def at(self, t: float) -> None:
        """Advance to `t` seconds since START."""
        await self.clock.advance(t - self.clock.monotonic())


def script(**kw: Any) -> CallScript:
    return CallScript.from_json(kw)


def spans(audio: Audio, window: float = 0.01) -> list[tuple[float, float]]:
    """Where the audio is not silent: (start, end) in seconds, to the window."""
    samples = array.array("h", audio.pcm)
    w = round(window * audio.rate)
    out: list[list[float]] = []
    for i in range(0, len(samples), w):
        if max(map(abs, samples[i : i + w]), default=0) > 50:
            t = i / audio.rate
            if out and abs(out[-1][1] - t) < 1e-9:
                out[-1][1] = t + w / audio.rate
            else:
                out.append([t, t + w / audio.rate])
    return [(round(a, 3), round(b, 3)) for a, b in out]


def digits_in(audio: Audio, start: float, end: float) -> str:
    """The DTMF keys sounding in [start, end) seconds of `audio`."""
    return detect(Audio(audio.pcm[2 * round(start * audio.rate) : 2 * round(end * audio.rate)]))


def levels(audio: Audio, start: float, end: float) -> set[int]:
    return set(array.array("h", audio.pcm)[round(start * audio.rate) : round(end * audio.rate)])


# --- how a handset answers ----------------------------------------------------------------------


@asynctest
async def test_an_unscripted_handset_rings_then_answers_after_the_default() -> None:
    net = Net()
    call = await net.place()
    await net.clock.advance(0)
    assert net.sink.of(call) == [("Ringing", 0)]
    await net.at(5)
    assert net.sink.of(call) == [("Ringing", 0), ("Answered", 1)]
    assert net.lookups == [(ACCOUNT, HANDSET)]
    assert not net.sim.is_machine(call)


@asynctest
async def test_the_default_answer_delay_is_the_carriers() -> None:
    net = Net(answer_after_seconds=4)
    call = await net.place()
    await net.at(10)
    assert net.sink.of(call) == [("Ringing", 0), ("Answered", 4)]


@pytest.mark.parametrize(
    ("mode", "after", "expected"),
    [
        ("answer", 2, [("Ringing", 0), ("Answered", 2)]),
        ("busy", 0, [("Ringing", 0), ("Disconnected", 0)]),
        ("reject", 3, [("Ringing", 0), ("Disconnected", 3)]),
        ("no-answer", None, [("Ringing", 0), ("Disconnected", 30)]),
        ("answer", 45, [("Ringing", 0), ("Disconnected", 30)]),  # rings past the timeout
    ],
)
@asynctest
async def test_script_answer_modes(
    mode: str, after: float | None, expected: list[tuple[str, float]]
) -> None:
    net = Net({HANDSET: script(answer=mode, answerAfterSeconds=after)})
    call = await net.place(ring_timeout=30)
    await net.at(100)
    assert net.sink.of(call) == expected
    causes = {"busy": "busy", "reject": "rejected", "no-answer": "timeout"}
    if expected[-1][0] == "Disconnected":
        assert net.sink.last(Disconnected).cause == causes.get(mode, "timeout")
    assert net.sim.active_calls == (1 if mode == "answer" and after == 2 else 0)


@asynctest
async def test_an_answering_machine_answers_and_speaks_its_greeting() -> None:
    greeting = "Hi it is Sam leave a message"  # 7 words: 3.5 s
    net = Net({HANDSET: script(answer="machine", answerAfterSeconds=2, greeting=greeting)})
    call = await net.place()
    await net.at(2)
    assert net.sink.of(call)[-1] == ("Answered", 2)
    assert net.sim.is_machine(call)
    await net.sim.record(call, "r-1", "start")
    await net.at(8)
    await net.sim.record(call, "r-1", "stop")
    await net.clock.advance(0)
    rec = net.sink.last(RecordingDone)
    assert rec.audio.seconds == 6
    assert spans(rec.audio) == [(0, 3.5)]  # the platform heard the greeting from the answer
    assert net.speaker.said == [(greeting, None)]
    assert net.sim.heard(call) == []  # what the platform played: nothing


# --- what the handset hears, and its keys -------------------------------------------------------


@asynctest
async def test_a_gather_like_flow_press_on_hearing_the_prompt_stops_it() -> None:
    net = Net(
        {
            HANDSET: script(
                answer="answer",
                answerAfterSeconds=1,
                voice="kate",
                actions=[{"on": "heard", "phrase": "PRESS 1", "afterSeconds": 0.5, "press": "1"}],
            )
        }
    )
    call = await net.place()
    await net.at(1)
    prompts = ["p-1", "p-2"]

    async def engine(e: VoiceEvent) -> None:  # a Gather: the first digit stops its prompts
        if isinstance(e, Dtmf):
            for p in prompts:
                await net.sim.stop_playback(call, p)

    net.sink.react = engine
    await net.sim.collect_dtmf(call, True)
    await net.sim.play(call, "p-1", level(4, PLAY_LEVEL, "speech(susan): For sales, press 1."))
    await net.sim.play(call, "p-2", level(4, PLAY_LEVEL, "speech(susan): Or stay on the line."))
    await net.at(20)
    events = [e for e in net.sink.events if isinstance(e, Dtmf | PlaybackDone)]
    assert [(type(e).__name__, secs(e.at)) for e in events] == [
        ("Dtmf", 1.5),
        ("PlaybackDone", 1.5),
        ("PlaybackDone", 1.5),
    ]
    assert events[0].digit == "1"
    assert [(e.playback_id, e.interrupted) for e in events[1:]] == [("p-1", True), ("p-2", True)]
    # p-2 was dropped before it began: the handset heard only the start of p-1
    assert net.sim.heard(call) == [
        Heard("speech(susan): For sales, press 1.", net.clock.now().replace(second=1), 0.5, True)
    ]


@asynctest
async def test_a_heard_action_fires_once_per_call() -> None:
    net = Net(
        {
            HANDSET: script(
                answerAfterSeconds=0,
                actions=[{"on": "heard", "phrase": "main menu", "say": "operator"}],
            )
        }
    )
    call = await net.place()
    await net.clock.advance(0)
    for i in range(3):
        await net.sim.play(call, f"p{i}", level(1, PLAY_LEVEL, "speech: The Main Menu."))
    await net.sim.play(call, "other", level(1, PLAY_LEVEL, "speech: main, then menu"))
    await net.at(10)
    assert net.speaker.said == [("operator", None)]


@asynctest
async def test_playbacks_queue_and_each_takes_its_length() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=0)})
    call = await net.place()
    await net.clock.advance(0)
    await net.sim.play(call, "a", level(2, PLAY_LEVEL, "first"))
    await net.sim.play(call, "b", level(3, PLAY_LEVEL, "second"))
    await net.at(1)
    await net.sim.stop_playback(call, "nope")  # not playing, not queued: nothing
    await net.at(10)
    done = [
        (e.playback_id, secs(e.at), e.interrupted)
        for e in net.sink.events
        if isinstance(e, PlaybackDone)
    ]
    assert done == [("a", 2, False), ("b", 5, False)]
    assert [(h.label, secs(h.started_at), h.seconds) for h in net.sim.heard(call)] == [
        ("first", 0, 2),
        ("second", 2, 3),
    ]
    await net.sim.stop_playback(call, "b")  # already finished: nothing
    await net.clock.advance(1)
    assert len([e for e in net.sink.events if isinstance(e, PlaybackDone)]) == 2


@asynctest
async def test_keys_become_dtmf_events_only_while_collecting() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=0)})
    call = await net.place()
    await net.clock.advance(0)
    await net.sim.press(call, "12")  # not collecting: tones only
    await net.at(5)
    await net.sim.collect_dtmf(call, True)
    await net.sim.press(call, "3#a")
    await net.at(10)
    await net.sim.collect_dtmf(call, False)
    await net.sim.press(call, "9")
    await net.at(15)
    dtmf = [(e.digit, secs(e.at)) for e in net.sink.events if isinstance(e, Dtmf)]
    assert dtmf == [("3", 5), ("#", 5.6), ("A", 6.2)]  # each as its tone begins


@asynctest
async def test_the_platform_sending_dtmf_is_heard_and_can_trigger_the_script() -> None:
    net = Net(
        {
            HANDSET: script(
                answerAfterSeconds=0,
                actions=[{"on": "heard", "phrase": "dtmf: 4", "afterSeconds": 1, "hangup": True}],
            )
        }
    )
    call = await net.place()
    await net.clock.advance(0)
    await net.sim.send_dtmf(call, "42", 100, 100)
    await net.at(5)
    assert [(h.label, h.seconds) for h in net.sim.heard(call)] == [("dtmf: 42", 0.4)]
    assert net.sink.of(call)[-1] == ("Disconnected", 1)
    assert net.sink.last(Disconnected).cause == "hangup"


@asynctest
async def test_script_actions_after_the_answer() -> None:
    net = Net(
        {
            HANDSET: script(
                answerAfterSeconds=2,
                voice="kate",
                actions=[
                    {"on": "answered", "afterSeconds": 3, "say": "Hi leave it there"},
                    {"on": "answered", "afterSeconds": 10, "hangup": True},
                ],
            )
        }
    )
    call = await net.place()
    await net.at(2)
    await net.sim.record(call, "r", "start")
    await net.at(60)
    assert net.sink.of(call) == [
        ("Ringing", 0),
        ("Answered", 2),
        ("RecordingDone", 12),
        ("Disconnected", 12),
    ]
    assert net.speaker.said == [("Hi leave it there", "kate")]
    rec = net.sink.last(RecordingDone)
    assert spans(rec.audio) == [(3, 5)]  # 4 words at 3 s after the answer


# --- recordings ---------------------------------------------------------------------------------


@asynctest
async def test_a_recording_holds_both_sides_at_their_offsets() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=1)})
    call = await net.place()
    await net.at(1)
    await net.sim.record(call, "r-1", "start")
    await net.sim.play(call, "p", level(2, PLAY_LEVEL, "welcome"))  # platform: 0-2
    await net.at(4)
    await net.sim.say(call, "one two three")  # handset: 3-4.5
    await net.sim.say(call, "four")  # the handset finishes the first sentence first: 4.5-5
    await net.at(7)
    await net.sim.press(call, "5")  # 6-6.2
    await net.at(8)
    await net.sim.send_dtmf(call, "9", 100, 50)  # the platform's tones: 7-7.1
    await net.at(9)
    await net.sim.record(call, "r-1", "stop")
    await net.clock.advance(0)
    rec = net.sink.last(RecordingDone)
    assert (rec.call_id, rec.recording_id) == (call, "r-1")
    assert (secs(rec.started_at), secs(rec.ended_at)) == (1, 9)
    assert rec.audio.seconds == 8
    assert spans(rec.audio) == [(0, 2), (3, 5), (6, 6.2), (7, 7.1)]
    assert levels(rec.audio, 0, 2) == {PLAY_LEVEL}
    assert levels(rec.audio, 3, 5) == {SPEECH_LEVEL}
    assert digits_in(rec.audio, 5.5, 8) == "59"


@asynctest
async def test_a_recording_leaves_out_its_paused_spans() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=0)})
    call = await net.place()
    await net.clock.advance(0)
    await net.sim.record(call, "r", "start")
    await net.sim.play(call, "p", level(4, PLAY_LEVEL, "long"))  # 0-4
    await net.at(1)
    await net.sim.record(call, "r", "pause")
    await net.sim.record(call, "r", "pause")  # repeated: no change
    await net.at(3)
    await net.sim.record(call, "r", "resume")
    await net.at(5)
    await net.sim.say(call, "hi")  # 5-5.5
    await net.at(6)
    await net.sim.record(call, "r", "stop")
    await net.sim.record(call, "r", "stop")  # repeated: nothing more
    await net.clock.advance(0)
    recs = [e for e in net.sink.events if isinstance(e, RecordingDone)]
    assert len(recs) == 1
    rec = recs[0]
    assert rec.audio.seconds == 4  # 0-1 and 3-6
    assert spans(rec.audio) == [(0, 2), (3, 3.5)]  # playback's 0-1 then 3-4, speech at 5


@asynctest
async def test_a_recording_started_mid_playback_captures_the_rest_of_it() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=0)})
    call = await net.place()
    await net.clock.advance(0)
    await net.sim.play(call, "p", level(3, PLAY_LEVEL, "prompt"))
    await net.at(1)
    await net.sim.record(call, "r", "start")
    await net.at(2.5)
    await net.sim.stop_playback(call, "p")  # cut at 2.5: the recording keeps 1.5 s of it
    await net.at(4)
    await net.sim.record(call, "r", "stop")
    await net.clock.advance(0)
    rec = net.sink.last(RecordingDone)
    assert rec.audio.seconds == 3
    assert spans(rec.audio) == [(0, 1.5)]
    assert net.sim.heard(call)[0].seconds == 2.5 and net.sim.heard(call)[0].interrupted


# --- two numbers of the platform ----------------------------------------------------------------


async def _bridged(net: Net) -> tuple[str, str]:
    a = await net.place(to=OTHER_APP_TN)
    await net.clock.advance(0)
    offer = net.sink.last(IncomingCall)
    assert (offer.sender, offer.to) == (PLATFORM_TN, OTHER_APP_TN)
    assert offer.call_id.startswith("c-") and offer.call_id != a
    return a, offer.call_id


@asynctest
async def test_a_call_between_two_platform_numbers_is_offered_and_bridged_both_ways() -> None:
    net = Net()
    a, b = await _bridged(net)
    assert net.lookups == []  # not a handset: no script
    await net.at(3)
    await net.sim.answer(b)
    await net.clock.advance(0)
    assert net.sink.of(a) == [("Ringing", 0), ("Answered", 3)]
    assert net.sink.of(b) == [("IncomingCall", 0), ("Answered", 3)]
    with pytest.raises(UnknownCall):  # no handset on this call
        await net.sim.press(a, "1")

    await net.sim.record(b, "rb", "start")
    await net.sim.record(a, "ra", "start")
    await net.sim.collect_dtmf(a, True)
    await net.sim.collect_dtmf(b, True)
    await net.sim.play(a, "pa", level(2, PLAY_LEVEL, "from a"))  # 3-5, heard by b
    await net.at(6)
    await net.sim.send_dtmf(b, "7", 100, 100)  # b's digit arrives at a
    await net.at(7)
    await net.sim.send_dtmf(a, "12", 100, 100)  # a's digits arrive at b: 7 and 7.2
    await net.at(8)
    await net.sim.hang_up(b)
    await net.at(9)

    assert [(e.call_id, e.digit, secs(e.at)) for e in net.sink.events if isinstance(e, Dtmf)] == [
        (a, "7", 6),
        (b, "1", 7),
        (b, "2", 7.2),
    ]
    assert [h.label for h in net.sim.heard(a)] == ["from a", "dtmf: 12"]
    assert [h.label for h in net.sim.heard(b)] == ["dtmf: 7"]
    for rec_leg in (a, b):  # each leg's recording has both directions
        rec = net.sink.last(RecordingDone, rec_leg)
        assert rec.audio.seconds == 5
        assert spans(rec.audio) == [(0, 2), (3, 3.1), (4, 4.1), (4.2, 4.3)]
        assert digits_in(rec.audio, 2.5, 5) == "712"
    assert net.sink.of(a)[-1] == ("Disconnected", 8)
    assert net.sink.of(b)[-1] == ("Disconnected", 8)
    assert {e.cause for e in net.sink.events if isinstance(e, Disconnected)} == {"hangup"}
    assert net.sim.active_calls == 0 and net.clock.pending == 0


@asynctest
async def test_pauses_in_dtmf_sent_on_net_are_no_keys() -> None:
    """SendDtmf's `w` (half a second, replacing the gap) delays the next key; lower-case a-d
    arrive as A-D."""
    net = Net()
    a, b = await _bridged(net)
    await net.sim.answer(b)
    await net.sim.collect_dtmf(b, True)
    await net.at(1)
    await net.sim.send_dtmf(a, "1w2d", 100, 100)
    await net.at(5)
    keys = [(e.digit, secs(e.at)) for e in net.sink.events if isinstance(e, Dtmf)]
    assert keys == [("1", 1), ("2", 1.6), ("D", 1.8)]


@asynctest
async def test_the_caller_leg_hanging_up_ends_the_called_leg() -> None:
    net = Net()
    a, b = await _bridged(net)
    await net.sim.answer(b)
    await net.at(2)
    await net.sim.hang_up(a)
    await net.clock.advance(0)
    assert net.sink.last(Disconnected, a).cause == "hangup"
    assert net.sink.last(Disconnected, b).cause == "hangup"


@pytest.mark.parametrize(
    ("how", "cause_a", "cause_b", "at"),
    [
        ("timeout", "timeout", "cancel", 30),  # nobody answers the offered leg
        ("reject", "busy", "busy", 2),
        ("cancel", "cancel", "cancel", 2),  # the caller's app hangs up while it rings
        ("decline", "rejected", "hangup", 2),  # the called app hangs up without answering
    ],
)
@asynctest
async def test_an_on_net_call_that_is_not_answered(
    how: str, cause_a: str, cause_b: str, at: float
) -> None:
    net = Net()
    a, b = await _bridged(net)
    await net.at(2)
    if how == "reject":
        await net.sim.reject(b, "busy")
    elif how == "cancel":
        await net.sim.hang_up(a)
    elif how == "decline":
        await net.sim.hang_up(b)
    await net.at(60)
    assert (net.sink.last(Disconnected, a).cause, secs(net.sink.last(Disconnected, a).at)) == (
        cause_a,
        at,
    )
    assert (net.sink.last(Disconnected, b).cause, secs(net.sink.last(Disconnected, b).at)) == (
        cause_b,
        at,
    )
    assert not any(isinstance(e, Answered) for e in net.sink.events)
    assert net.clock.pending == 0


# --- ending a call ------------------------------------------------------------------------------


@asynctest
async def test_hanging_up_cancels_everything_pending() -> None:
    net = Net(
        {
            HANDSET: script(
                answerAfterSeconds=0,
                actions=[
                    {"on": "answered", "afterSeconds": 20, "say": "too late"},
                    {"on": "answered", "afterSeconds": 30, "hangup": True},
                    {"on": "heard", "phrase": "menu", "afterSeconds": 15, "press": "1"},
                ],
            )
        }
    )
    call = await net.place()
    await net.clock.advance(0)
    await net.sim.collect_dtmf(call, True)
    await net.sim.record(call, "r", "start")
    await net.sim.play(call, "p1", level(10, PLAY_LEVEL, "the menu"))
    await net.sim.play(call, "p2", level(10, PLAY_LEVEL, "more"))
    await net.at(4)
    await net.sim.hang_up(call)
    assert net.clock.pending == 0  # no timer left behind
    await net.clock.run_until_idle()
    assert net.sink.of(call) == [
        ("Ringing", 0),
        ("Answered", 0),
        ("PlaybackDone", 4),
        ("PlaybackDone", 4),
        ("RecordingDone", 4),
        ("Disconnected", 4),
    ]
    done = [(e.playback_id, e.interrupted) for e in net.sink.events if isinstance(e, PlaybackDone)]
    assert done == [("p1", True), ("p2", True)]
    assert net.sink.last(RecordingDone).audio.seconds == 4
    assert net.sink.last(Disconnected).cause == "hangup"
    assert net.speaker.said == []
    assert [(h.label, h.seconds, h.interrupted) for h in net.sim.heard(call)] == [
        ("the menu", 4, True)
    ]
    # late commands from the platform are ignored; the handset is told the call is over
    await net.sim.play(call, "p3", level(1, PLAY_LEVEL, "x"))
    await net.sim.hang_up(call)
    await net.sim.record(call, "r2", "start")
    await net.clock.run_until_idle()
    assert len(net.sink.of(call)) == 6
    with pytest.raises(UnknownCall, match="ended"):
        await net.sim.press(call, "1")


class GatedSpeaker(FakeSpeaker):
    """Synthesis that takes until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.cancelled = 0

    async def speak(self, text: str, **kw: Any) -> Audio:
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().speak(text, **kw)


@asynctest
async def test_hanging_up_during_speech_synthesis() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=0, actions=[{"say": "from the script"}])})
    net.sim.speaker = speaker = GatedSpeaker()
    call = await net.place()
    await net.clock.advance(0)  # the script's sentence is being synthesised
    said = asyncio.create_task(net.sim.say(call, "from the api"))
    await net.clock.advance(1)
    await net.sim.hang_up(call)
    await net.clock.advance(0)
    assert speaker.cancelled == 1  # the script's synthesis is cancelled with the call
    speaker.gate.set()
    with pytest.raises(UnknownCall, match="ended before it was said"):
        await said  # the person at the API is told it was not said
    assert len(asyncio.all_tasks()) == 1


@asynctest
async def test_what_a_handset_says_is_checked() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=0)})
    call = await net.place()
    await net.clock.advance(0)
    for text in ("", "x" * 1001, "a\x07b"):
        with pytest.raises(InvalidInput) as e:
            await net.sim.say(call, text)
        assert e.value.field == "text"


@pytest.mark.parametrize(("answered", "cause"), [(True, "hangup"), (False, "rejected")])
@asynctest
async def test_the_handset_hangs_up(answered: bool, cause: str) -> None:
    net = Net({HANDSET: script(answerAfterSeconds=5)})
    call = await net.place()
    await net.at(6 if answered else 2)
    await net.sim.hang_up_handset(call)
    await net.clock.run_until_idle()
    assert net.sink.of(call)[-1][0] == "Disconnected"
    assert net.sink.last(Disconnected).cause == cause
    assert ("Answered" in [k for k, _ in net.sink.of(call)]) is answered
    with pytest.raises(UnknownCall):
        await net.sim.hang_up_handset(call)


@asynctest
async def test_unknown_calls() -> None:
    net = Net()
    for command in (
        net.sim.hang_up("c-nope"),
        net.sim.answer("c-nope"),
        net.sim.reject("c-nope", "busy"),
        net.sim.play("c-nope", "p", level(1, 1, "x")),
        net.sim.stop_playback("c-nope", "p"),
        net.sim.send_dtmf("c-nope", "1", 100, 100),
        net.sim.collect_dtmf("c-nope", True),
        net.sim.record("c-nope", "r", "start"),
        net.sim.press("c-nope", "1"),
        net.sim.say("c-nope", "hi"),
        net.sim.hang_up_handset("c-nope"),
    ):
        with pytest.raises(UnknownCall, match="c-nope"):
            await command
    with pytest.raises(UnknownCall):
        net.sim.heard("c-nope")
    with pytest.raises(UnknownCall):
        net.sim.is_machine("c-nope")


@asynctest
async def test_ended_calls_are_remembered_for_a_while() -> None:
    net = Net({HANDSET: script(answer="busy", answerAfterSeconds=0)}, keep_ended=2)
    calls = [await net.place() for _ in range(3)]
    await net.clock.advance(1)
    with pytest.raises(UnknownCall):
        net.sim.heard(calls[0])
    assert net.sim.heard(calls[1]) == [] and net.sim.heard(calls[2]) == []


@asynctest
async def test_a_handset_answers_by_hand() -> None:
    """A slow handset picked up through the control API: answered at once (not at 20 s), and
    its script's actions run from that moment."""
    actions = [{"press": "5", "afterSeconds": 1}]
    net = Net({HANDSET: script(answerAfterSeconds=20, actions=actions)})
    call = await net.place()
    await net.at(3)
    await net.sim.answer_handset(call)
    await net.sim.collect_dtmf(call, True)
    await net.at(10)
    assert [e for e in net.sink.of(call) if e[0] != "Dtmf"] == [("Ringing", 0), ("Answered", 3)]
    assert net.sink.last(Dtmf, call).digit == "5"
    with pytest.raises(CallStateError, match="already answered"):
        await net.sim.answer_handset(call)
    await net.sim.hang_up_handset(call)
    with pytest.raises(UnknownCall):
        await net.sim.answer_handset(call)


@asynctest
async def test_a_handset_cannot_answer_its_own_call() -> None:
    net = Net()
    await net.sim.dial(ACCOUNT, HANDSET, PLATFORM_TN, "c-00000001-dial")
    with pytest.raises(CallStateError, match="placed by the handset"):
        await net.sim.answer_handset("c-00000001-dial")


@asynctest
async def test_wrong_state_commands() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=5)})
    call = await net.place()
    await net.clock.advance(1)
    with pytest.raises(CallStateError):
        await net.sim.answer(call)  # the handset answers a call the platform placed
    with pytest.raises(CallStateError):
        await net.sim.reject(call, "busy")
    with pytest.raises(CallStateError, match="not answered"):
        await net.sim.press(call, "1")
    await net.at(5)
    with pytest.raises(InvalidInput) as e:
        await net.sim.press(call, "1x")
    assert e.value.field == "digits"


# --- a handset calls the platform ---------------------------------------------------------------


@asynctest
async def test_a_handset_dials_the_platform() -> None:
    net = Net({HANDSET: script(actions=[{"on": "answered", "afterSeconds": 1, "press": "42"}])})
    await net.sim.dial(ACCOUNT, HANDSET, PLATFORM_TN, "c-dialled")
    assert net.lookups == [(ACCOUNT, HANDSET)]
    with pytest.raises(CallStateError):
        await net.sim.dial(ACCOUNT, HANDSET, PLATFORM_TN, "c-dialled")
    await net.at(2)
    await net.sim.collect_dtmf("c-dialled", True)
    await net.sim.answer("c-dialled")
    await net.sim.answer("c-dialled")  # repeated: nothing more
    await net.at(10)
    offer = net.sink.events[0]
    assert isinstance(offer, IncomingCall)
    assert (offer.call_id, offer.sender, offer.to) == ("c-dialled", HANDSET, PLATFORM_TN)
    assert net.sink.of("c-dialled") == [
        ("IncomingCall", 0),
        ("Answered", 2),
        ("Dtmf", 3),
        ("Dtmf", 3.6),
    ]
    await net.sim.hang_up_handset("c-dialled")
    await net.clock.advance(0)
    assert net.sink.last(Disconnected).cause == "hangup"


@pytest.mark.parametrize(
    ("how", "cause", "at"),
    [("reject", "rejected", 1), ("wait", "cancel", 60), ("handset", "cancel", 1)],
)
@asynctest
async def test_a_handsets_call_the_platform_does_not_answer(
    how: str, cause: str, at: float
) -> None:
    net = Net()
    await net.sim.dial(ACCOUNT, HANDSET, PLATFORM_TN, "c-d")
    await net.at(1)
    if how == "reject":
        await net.sim.reject("c-d", "rejected")
    elif how == "handset":
        await net.sim.hang_up_handset("c-d")
    await net.at(100)
    assert net.sink.of("c-d") == [("IncomingCall", 0), ("Disconnected", at)]
    assert net.sink.last(Disconnected).cause == cause


# --- delivery of events -------------------------------------------------------------------------


@asynctest
async def test_a_slow_event_on_one_call_does_not_hold_up_another() -> None:
    net = Net({HANDSET: script(answerAfterSeconds=1)})
    gate = asyncio.Event()
    first = await net.place()

    async def engine(e: VoiceEvent) -> None:
        if e.call_id == first:  # type: ignore[union-attr]
            await gate.wait()  # the engine is stuck recording this call's events

    net.sink.react = engine
    second = await net.place()
    await net.at(5)
    assert net.sink.of(first) == [("Ringing", 0)]  # the rest waits, in order
    assert net.sink.of(second) == [("Ringing", 0), ("Answered", 1)]
    gate.set()
    await net.clock.advance(0)
    assert net.sink.of(first) == [("Ringing", 0), ("Answered", 1)]


@asynctest
async def test_a_thousand_concurrent_calls_in_virtual_time() -> None:
    modes = ["answer", "busy", "no-answer", "machine"]
    numbers = [f"+1919555{i:04d}" for i in range(1000)]
    scripts = {
        tn: script(
            answer=modes[i % 4],
            answerAfterSeconds=1 + i % 7,
            actions=[{"on": "answered", "afterSeconds": 20, "hangup": True}]
            if modes[i % 4] == "answer"
            else [],
        )
        for i, tn in enumerate(numbers)
    }
    net = Net(scripts, keep=False)

    async def engine(e: VoiceEvent) -> None:  # record, play a prompt; hang up machines after it
        if isinstance(e, Answered):
            await net.sim.record(e.call_id, "r", "start")
            await net.sim.play(e.call_id, "p", level(0.5, PLAY_LEVEL, "hello"))
        elif isinstance(e, PlaybackDone) and net.sim.is_machine(e.call_id):
            await net.sim.hang_up(e.call_id)

    net.sink.react = engine
    wall = time.perf_counter()
    for tn in numbers:
        await net.sim.place(OutboundCall(f"c-{tn}", ACCOUNT, PLATFORM_TN, tn, 30))
    await net.clock.advance(0)
    assert net.sim.active_calls == 1000
    assert net.clock.pending == 1000  # one timer per ringing call, nothing sleeping
    assert len(asyncio.all_tasks()) == 1  # this test's: no task per call
    await net.clock.run_until_idle()
    assert time.perf_counter() - wall < 30
    assert net.sim.active_calls == 0 and net.clock.pending == 0
    assert net.sink.counts == {
        "Ringing": 1000,
        "Answered": 500,
        "PlaybackDone": 500,
        "RecordingDone": 500,
        "Disconnected": 1000,
    }
    assert net.clock.monotonic() == 30  # the last: the unanswered ones time out


# --- call scripts -------------------------------------------------------------------------------


def test_a_call_script_round_trips() -> None:
    body = {
        "answer": "answer",
        "answerAfterSeconds": 2,
        "actions": [
            {"on": "heard", "phrase": "press 1", "press": "1", "afterSeconds": 0.5},
            {"on": "answered", "afterSeconds": 3, "say": "Hi, leave it there"},
            {"on": "answered", "afterSeconds": 10, "hangup": True},
        ],
    }
    s = CallScript.from_json(body)
    assert s.actions[0] == CallAction(on="heard", after_seconds=0.5, phrase="press 1", press="1")
    assert CallScript.from_json(s.to_json()) == s
    assert CallScript.from_json({}) == CallScript()
    assert CallScript.from_json({"answer": "machine"}).machine_greeting.startswith("Hello")
    assert CallScript.from_json({"actions": [{"press": "a#"}]}).actions[0].press == "A#"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "call"),
        ({"answr": "answer"}, "answr"),
        ({"answer": "maybe"}, "answer"),
        ({"answerAfterSeconds": -1}, "answerAfterSeconds"),
        ({"answerAfterSeconds": 301}, "answerAfterSeconds"),
        ({"answerAfterSeconds": "2"}, "answerAfterSeconds"),
        ({"answerAfterSeconds": True}, "answerAfterSeconds"),
        ({"answerAfterSeconds": float("nan")}, "answerAfterSeconds"),
        ({"greeting": "hi"}, "greeting"),  # not a machine
        ({"answer": "machine", "greeting": "x" * 1001}, "greeting"),
        ({"answer": "machine", "greeting": "a\x00b"}, "greeting"),
        ({"voice": "kate; rm"}, "voice"),
        ({"voice": "hal"}, "voice"),  # not a Bandwidth voice: speech would refuse it
        ({"actions": {}}, "actions"),
        ({"actions": [{"say": "hi"}] * 21}, "actions"),
        ({"answer": "busy", "actions": [{"say": "hi"}]}, "actions"),
        ({"actions": ["say hi"]}, "actions[0]"),
        ({"actions": [{"say": "hi", "sya": "x"}]}, "actions[0].sya"),
        ({"actions": [{"on": "later", "say": "hi"}]}, "actions[0].on"),
        ({"actions": [{"on": "heard", "say": "hi"}]}, "actions[0].phrase"),
        ({"actions": [{"on": "heard", "phrase": "p" * 201, "say": "hi"}]}, "actions[0].phrase"),
        ({"actions": [{"phrase": "menu", "say": "hi"}]}, "actions[0].phrase"),
        ({"actions": [{"say": "hi", "press": "1"}]}, "actions[0].press"),
        ({"actions": [{}]}, "actions[0].say"),
        ({"actions": [{"say": "  "}]}, "actions[0].say"),
        ({"actions": [{"press": "12x"}]}, "actions[0].press"),
        ({"actions": [{"press": "1" * 51}]}, "actions[0].press"),
        ({"actions": [{"hangup": "yes"}]}, "actions[0].hangup"),
        ({"actions": [{"hangup": True, "afterSeconds": 3601}]}, "actions[0].afterSeconds"),
        ({"actions": [{"say": "hi"}, {"hangup": False}]}, "actions[1].say"),
    ],
)
def test_a_call_script_is_refused_with_the_field_at_fault(body: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        CallScript.from_json(body)
    assert e.value.field == field
