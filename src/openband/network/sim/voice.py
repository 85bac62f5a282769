"""The simulated phone network as a voice carrier (network/voice.py): calls to and from virtual
handsets, and between two numbers of the platform.

A call the platform places (`place`) goes one of two ways:
- to a HANDSET (a number no account owns): it rings (Ringing at once), then does what its call
  script says (call_scripts.py; unscripted: answers after `answer_after_seconds`): answers,
  reports busy, rejects, never answers (the caller's ring timeout ends it: "timeout"), or is an
  answering machine that answers and speaks a greeting. Once answered, the script's actions run:
  say a sentence, press digits, hang up, after the answer or on hearing a phrase.
- ON-NET, to a number of the platform (`platform_number`): the network offers the call to that
  number as an IncomingCall with a callId of its own, and links the two legs. Answering (or
  rejecting) the offered leg answers (rejects) the caller's; what one leg plays or sends as DTMF
  the other hears (Dtmf events when it collects); either leg ending ends the other. Each app
  controls its own leg.

A handset can also call the platform (`dial`, from the /sim/v1 API) and, once on a call,
`press` keys, `say` something or hang up (`hang_up_handset`).

Media is simulated in time, not streamed: a playback occupies the clock for its audio's length,
then PlaybackDone; what the far end heard is kept per call (`heard`). What each side produces
(playbacks, DTMF tones, the handset's speech) is kept as pieces at their clock offsets while a
recording runs, and mixed into one Audio when it stops (paused spans left out).

State is in memory on the node that owns the call (the call engine handles node death). Every
wait is a clock timer (`Clock.call_later`): a thousand ringing calls cost a thousand timers, not
a thousand sleeping coroutines, and tests run hours of calls in virtual time (VirtualClock).
Events reach the sink one at a time and in order per call, each call through its own queue, so a
slow event on one call does not hold up another.

Commands from the platform on a call that has already ended are ignored (the engine may race the
far end's hang-up; the Disconnected event is on its way), on a call this node never had raise
UnknownCall. The handset's commands on an ended call raise UnknownCall too: the caller is a
person at the API who should hear that the call is over.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from openband import ids
from openband.audio.dtmf import onsets, tones
from openband.audio.pcm import mix
from openband.clock import Clock, Timer
from openband.errors import InvalidInput
from openband.network.sim.call_scripts import DTMF_DIGITS, CallAction, CallScript, check_speech
from openband.network.voice import (
    Answered,
    Audio,
    CallStateError,
    Disconnected,
    Dtmf,
    IncomingCall,
    NetworkCause,
    OutboundCall,
    PlaybackDone,
    RecordAction,
    RecordingDone,
    RejectReason,
    Ringing,
    Speaker,
    UnknownCall,
    VoiceEvent,
    VoiceEvents,
)

log = logging.getLogger(__name__)

CARRIER_NAME = "OpenBand Simulator"
HANDSET_TONE_MS = 200  # how long a handset holds a key, and the pause between keys
HANDSET_GAP_MS = 400
MAX_HEARD = 1000  # entries kept per call (the oldest go first)

ScriptLookup = Callable[[str, str], Awaitable[CallScript | None]]
PlatformLookup = Callable[[str], Awaitable[bool]]
_State = Literal["ringing", "answered", "ended"]


@dataclass(frozen=True, slots=True)
class Heard:
    """Something played to the far end of a call: a playback or DTMF the platform sent."""

    label: str
    started_at: datetime
    seconds: float  # how long it played (less than the audio when interrupted)
    interrupted: bool = False


class _Piece:
    """Audio one side produced, at clock offsets [start, end) (end moves up if cut short)."""

    __slots__ = ("audio", "end", "start")

    def __init__(self, start: float, audio: Audio) -> None:
        self.start = start
        self.end = start + audio.seconds
        self.audio = audio


class _Playback:
    __slots__ = ("audio", "heard", "piece", "playback_id", "started", "timer")

    def __init__(self, playback_id: str, audio: Audio) -> None:
        self.playback_id = playback_id
        self.audio = audio
        self.started = 0.0
        self.timer: Timer | None = None
        self.heard: Heard | None = None
        self.piece: _Piece | None = None


class _Recording:
    __slots__ = ("pieces", "recording_id", "spans", "started_at")

    def __init__(self, recording_id: str, started_at: datetime, at: float) -> None:
        self.recording_id = recording_id
        self.started_at = started_at
        self.spans: list[list[float]] = [[at]]  # [start, end] captured; the last may be open
        self.pieces: list[_Piece] = []


class _Call:
    __slots__ = (
        "account_id",
        "call_id",
        "collecting",
        "draining",
        "fired",
        "handset",
        "handset_free_at",
        "heard",
        "incoming",
        "machine",
        "media",
        "outbox",
        "peer",
        "playing",
        "queue",
        "recordings",
        "ring",
        "script",
        "state",
        "tasks",
        "timers",
    )

    def __init__(self, call_id: str, account_id: str | None, *, incoming: bool) -> None:
        self.call_id = call_id
        self.account_id = account_id
        self.incoming = incoming  # offered to the platform (IncomingCall): it answers or rejects
        self.handset: str | None = None  # the handset's number; None between platform numbers
        self.script: CallScript | None = None
        self.state: _State = "ringing"
        self.machine = False
        self.peer: _Call | None = None  # the other leg of an on-net call
        self.collecting = False
        self.ring: Timer | None = None  # what ends the ringing (answer, busy, timeout…)
        self.timers: set[Timer] = set()
        self.tasks: set[asyncio.Task[object]] = set()
        self.playing: _Playback | None = None
        self.queue: deque[_Playback] = deque()
        self.recordings: dict[str, _Recording] = {}
        self.media: list[_Piece] = []  # pieces still sounding: a recording started now hears them
        self.heard: deque[Heard] = deque(maxlen=MAX_HEARD)
        self.fired: set[int] = set()  # the "heard" actions already triggered
        self.handset_free_at = 0.0  # the handset says and presses one thing at a time
        self.outbox: deque[VoiceEvent] = deque()
        self.draining = False


class SimulatorVoice:
    """The simulated phone network as a VoiceCarrier."""

    name = CARRIER_NAME

    def __init__(
        self,
        clock: Clock,
        speaker: Speaker,
        scripts: ScriptLookup,
        platform_number: PlatformLookup,
        *,
        answer_after_seconds: float = 1.0,
        give_up_seconds: float = 60.0,
        keep_ended: int = 10_000,
        max_recording_seconds: float = 3 * 3600.0,
    ) -> None:
        self.clock = clock
        self.speaker = speaker
        self._scripts = scripts
        self._platform_number = platform_number
        self.answer_after_seconds = answer_after_seconds  # an unscripted handset
        self.give_up_seconds = give_up_seconds  # a handset's call the platform never answers
        self.keep_ended = keep_ended
        self.max_recording_seconds = max_recording_seconds
        self._events: VoiceEvents | None = None
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, _Call] = OrderedDict()  # for heard() and late commands
        self._drains: set[asyncio.Task[None]] = set()

    def start(self, events: VoiceEvents) -> None:
        self._events = events

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # --- the platform's commands (VoiceCarrier) ---------------------------------------------------

    async def place(self, call: OutboundCall) -> None:
        if call.call_id in self._calls or call.call_id in self._ended:
            return  # a repeated command
        c = _Call(call.call_id, call.account_id, incoming=False)
        self._calls[c.call_id] = c  # first, so a hang-up during the look-ups finds it
        try:
            on_net = await self._platform_number(call.to)
            script = None if on_net else await self._scripts(call.account_id, call.to)
        except BaseException:
            self._calls.pop(c.call_id, None)
            raise
        if c.state == "ended":
            return
        self._emit(c, Ringing(c.call_id, self.clock.now()))
        if on_net:
            self._offer(c, call)
            return
        c.handset = call.to
        c.script = script
        mode = script.answer if script is not None else "answer"
        delay = self.answer_after_seconds
        if script is not None and script.answer_after_seconds is not None:
            delay = script.answer_after_seconds
        if mode == "no-answer" or delay >= call.ring_timeout:
            c.ring = self._later(c, call.ring_timeout, lambda: self._end(c, "timeout"))
        elif mode == "busy":
            c.ring = self._later(c, delay, lambda: self._end(c, "busy"))
        elif mode == "reject":
            c.ring = self._later(c, delay, lambda: self._end(c, "rejected"))
        else:
            c.ring = self._later(c, delay, lambda: self._handset_answers(c, mode == "machine"))

    def _offer(self, a: _Call, call: OutboundCall) -> None:
        """Offer an on-net call to the platform number it was placed to: a second leg."""
        b = _Call(ids.call_id(), None, incoming=True)
        a.peer, b.peer = b, a
        self._calls[b.call_id] = b
        self._emit(
            b,
            IncomingCall(
                b.call_id,
                sender=call.sender,
                to=call.to,
                at=self.clock.now(),
                display_name=call.display_name,
                uui=call.uui,
            ),
        )
        a.ring = self._later(a, call.ring_timeout, lambda: self._end(a, "timeout", "cancel"))

    async def answer(self, call_id: str) -> None:
        c = self._find(call_id)
        if c is None or c.state == "answered":
            return
        if not c.incoming:
            raise CallStateError(f"{call_id} was placed by the platform: the far end answers it")
        self._cancel(c, c.ring)
        self._answered(c)
        if c.peer is not None:
            self._cancel(c.peer, c.peer.ring)
            self._answered(c.peer)
        self._run_actions(c)

    async def reject(self, call_id: str, reason: RejectReason) -> None:
        c = self._find(call_id)
        if c is None:
            return
        if not c.incoming or c.state != "ringing":
            raise CallStateError(f"{call_id} is not a call offered to the platform and ringing")
        self._end(c, reason, reason)

    async def hang_up(self, call_id: str) -> None:
        c = self._find(call_id)
        if c is None:
            return
        if c.state == "answered":
            self._end(c, "hangup", "hangup")
        elif c.incoming:  # not answering an offered call: the caller hears it rejected
            self._end(c, "hangup", "rejected")
        else:  # the platform gives up on a call it placed before it is answered
            self._end(c, "cancel", "cancel")

    async def play(self, call_id: str, playback_id: str, audio: Audio) -> None:
        c = self._find(call_id)
        if c is None:
            return
        c.queue.append(_Playback(playback_id, audio))
        if c.playing is None:
            self._next_playback(c)

    async def stop_playback(self, call_id: str, playback_id: str) -> None:
        c = self._find(call_id)
        if c is None:
            return
        p = c.playing
        if p is not None and p.playback_id == playback_id:
            self._interrupt(c, p)
            # The next one starts once the caller is done: a Gather stopping its prompts one
            # by one would otherwise start (and cut) each of the others in turn.
            self._later(c, 0, lambda: self._next_playback(c))
            return
        # A queued one (a Gather's later prompts) goes without being heard; others are not
        # touched: each was started by its own verb, which stops it itself.
        for q in c.queue:
            if q.playback_id == playback_id:
                c.queue.remove(q)
                self._emit(c, PlaybackDone(c.call_id, playback_id, self.clock.now(), True))
                return

    async def send_dtmf(self, call_id: str, digits: str, tone_ms: int, gap_ms: int) -> None:
        c = self._find(call_id)
        if c is None:
            return
        audio = replace(tones(digits, tone_ms=tone_ms, gap_ms=gap_ms), label=f"dtmf: {digits}")
        self._hear(c, Heard(audio.label, self.clock.now(), audio.seconds))
        self._produce(c, _Piece(self.clock.monotonic(), audio))
        if c.peer is not None:  # the other app's leg gets them as key presses
            self._keys(c.peer, digits, self.clock.monotonic(), tone_ms, gap_ms)
        self._heard_triggers(c, audio.label)

    async def collect_dtmf(self, call_id: str, enabled: bool) -> None:
        c = self._find(call_id)
        if c is not None:
            c.collecting = enabled

    async def record(self, call_id: str, recording_id: str, action: RecordAction) -> None:
        c = self._find(call_id)
        if c is None:
            return
        at = self.clock.monotonic()
        r = c.recordings.get(recording_id)
        if action == "start":
            if r is None:
                r = _Recording(recording_id, self.clock.now(), at)
                r.pieces = [p for p in c.media if p.end > at]
                c.recordings[recording_id] = r
        elif r is None:
            return  # already stopped (a repeated command, or the call's end stopped it)
        elif action == "pause":
            if len(r.spans[-1]) == 1:
                r.spans[-1].append(at)
        elif action == "resume":
            if len(r.spans[-1]) == 2:
                r.spans.append([at])
        elif action == "stop":
            self._finish_recording(c, r)
        else:
            raise ValueError(f"unknown record action {action!r}")

    # --- the handset's side (the /sim/v1 API) -----------------------------------------------------

    async def dial(self, account_id: str, sender: str, to: str, call_id: str) -> None:
        """The handset `sender` calls the platform number `to` (owned by `account_id`, whose
        script for `sender` then applies). Reports IncomingCall; the platform answers or
        rejects. A call left ringing `give_up_seconds` ends with cause "cancel"."""
        if call_id in self._calls or call_id in self._ended:
            raise CallStateError(f"{call_id} already exists")
        script = await self._scripts(account_id, sender)
        c = _Call(call_id, account_id, incoming=True)
        c.handset = sender
        c.script = script
        self._calls[call_id] = c
        self._emit(c, IncomingCall(call_id, sender=sender, to=to, at=self.clock.now()))
        c.ring = self._later(c, self.give_up_seconds, lambda: self._end(c, "cancel"))

    async def press(self, call_id: str, digits: str) -> None:
        """The handset presses `digits` (0-9 * # A-D), one after the other: Dtmf events while
        the platform collects, tones in any recording."""
        digits = digits.upper()
        if not digits or not set(digits) <= DTMF_DIGITS:
            raise InvalidInput("digits may hold only 0-9 * # A-D", field="digits")
        self._handset_presses(self._handset_call(call_id), digits)

    async def say(self, call_id: str, text: str) -> None:
        """The handset speaks `text` (synthesised; after what it is already saying): part of
        what a recording captures."""
        check_speech(text, "text")
        if not await self._handset_says(self._handset_call(call_id), text):
            raise UnknownCall(call_id, "the call ended before it was said")

    async def answer_handset(self, call_id: str) -> None:
        """The handset answers a call the platform placed to it and that is still ringing
        (sooner than its script or the default would; a "no-answer" handset picked up by hand)."""
        c = self._handset_call(call_id, answered=False)
        if c.incoming:
            raise CallStateError(f"{call_id} was placed by the handset: the platform answers it")
        if c.state != "ringing":
            raise CallStateError(f"{call_id} is already answered")
        self._cancel(c, c.ring)
        self._handset_answers(c, machine=False)

    async def hang_up_handset(self, call_id: str) -> None:
        """The handset hangs up: "hangup" once answered; ringing, it declines a call the
        platform placed ("rejected") or gives up on its own ("cancel")."""
        c = self._handset_call(call_id, answered=False)
        if c.state == "answered":
            self._end(c, "hangup")
        else:
            self._end(c, "cancel" if c.incoming else "rejected")

    # --- what the simulator knows about its calls -------------------------------------------------

    def heard(self, call_id: str) -> list[Heard]:
        """What the far end of the call heard from the platform (playbacks, DTMF), in order.
        Kept after the call ends, for the last `keep_ended` calls."""
        return list(self._known(call_id).heard)

    def is_machine(self, call_id: str) -> bool:
        """Whether an answering machine answered (for machine detection)."""
        return self._known(call_id).machine

    # --- internals: calls -------------------------------------------------------------------------

    def _known(self, call_id: str) -> _Call:
        c = self._calls.get(call_id) or self._ended.get(call_id)
        if c is None:
            raise UnknownCall(call_id)
        return c

    def _find(self, call_id: str) -> _Call | None:
        """A live call, or None for one that ended (the command is late); UnknownCall if the
        call was never here."""
        c = self._calls.get(call_id)
        if c is None and call_id not in self._ended:
            raise UnknownCall(call_id)
        return c

    def _handset_call(self, call_id: str, answered: bool = True) -> _Call:
        c = self._calls.get(call_id)
        if c is None or c.handset is None:
            detail = "the call has ended" if call_id in self._ended else "no such handset call"
            raise UnknownCall(call_id, detail)
        if answered and c.state != "answered":
            raise CallStateError(f"{call_id} is not answered yet")
        return c

    def _answered(self, c: _Call) -> None:
        c.state = "answered"
        self._emit(c, Answered(c.call_id, self.clock.now()))

    def _handset_answers(self, c: _Call, machine: bool) -> None:
        self._answered(c)
        if machine:
            c.machine = True
            greeting = c.script.machine_greeting if c.script is not None else ""
            self._spawn(c, self._handset_says(c, greeting))
        self._run_actions(c)

    def _run_actions(self, c: _Call) -> None:
        if c.handset is None or c.script is None:
            return
        for action in c.script.actions:
            if action.on == "answered":
                self._later(c, action.after_seconds, lambda a=action: self._act(c, a))

    def _heard_triggers(self, c: _Call, label: str) -> None:
        if c.handset is None or c.script is None or c.state != "answered":
            return
        for i, action in enumerate(c.script.actions):
            if i not in c.fired and action.matches(label):
                c.fired.add(i)
                self._later(c, action.after_seconds, lambda a=action: self._act(c, a))

    def _act(self, c: _Call, action: CallAction) -> None:
        if action.say is not None:
            self._spawn(c, self._handset_says(c, action.say))
        elif action.press is not None:
            self._handset_presses(c, action.press)
        elif action.hangup:
            self._end(c, "hangup")

    async def _handset_says(self, c: _Call, text: str) -> bool:
        """Speak on the call; False if it ended while the speech was being synthesised."""
        voice = c.script.voice if c.script is not None else None
        audio = await self.speaker.speak(text, voice=voice)
        if c.state == "ended":
            return False
        start = max(self.clock.monotonic(), c.handset_free_at)
        c.handset_free_at = start + audio.seconds
        self._produce(c, _Piece(start, audio))
        return True

    def _handset_presses(self, c: _Call, digits: str) -> None:
        audio = tones(digits, tone_ms=HANDSET_TONE_MS, gap_ms=HANDSET_GAP_MS)
        start = max(self.clock.monotonic(), c.handset_free_at)
        c.handset_free_at = start + audio.seconds
        self._produce(c, _Piece(start, audio))
        self._keys(c, digits, start, HANDSET_TONE_MS, HANDSET_GAP_MS)

    def _keys(self, c: _Call, digits: str, start: float, tone_ms: int, gap_ms: int) -> None:
        """Report each key to `c`'s platform side as its tone begins, if it collects then
        (pauses such as SendDtmf's `w` are no keys, and delay the keys after them)."""
        now = self.clock.monotonic()
        for digit, offset in onsets(digits, tone_ms, gap_ms):
            delay = start + offset - now
            if delay <= 0:
                self._key(c, digit)
            else:
                self._later(c, delay, lambda d=digit: self._key(c, d))

    def _key(self, c: _Call, digit: str) -> None:
        if c.collecting:
            self._emit(c, Dtmf(c.call_id, digit, self.clock.now()))

    def _end(self, c: _Call, cause: NetworkCause, peer_cause: NetworkCause | None = None) -> None:
        """End a leg: cancel what is pending, report what it cut short, then Disconnected; the
        other leg of an on-net call ends too, with `peer_cause` (by default: "hangup" once
        answered; ringing, the called leg's caller cancelled, the caller's callee rejected)."""
        if c.state == "ended":
            return
        c.state = "ended"
        for timer in c.timers:
            timer.cancel()
        c.timers.clear()
        for task in c.tasks:
            task.cancel()
        if c.playing is not None:
            self._interrupt(c, c.playing)
        now = self.clock.now()
        while c.queue:
            self._emit(c, PlaybackDone(c.call_id, c.queue.popleft().playback_id, now, True))
        for r in list(c.recordings.values()):
            self._finish_recording(c, r, call_ended=True)
        self._emit(c, Disconnected(c.call_id, cause, now))
        c.media = []
        del self._calls[c.call_id]
        self._ended[c.call_id] = c
        while len(self._ended) > self.keep_ended:
            self._ended.popitem(last=False)
        peer = c.peer
        if peer is not None and peer.state != "ended":
            if peer_cause is None:
                answered, incoming = peer.state == "answered", peer.incoming
                peer_cause = "hangup" if answered else "cancel" if incoming else "rejected"
            self._end(peer, peer_cause)

    # --- internals: media -------------------------------------------------------------------------

    def _next_playback(self, c: _Call) -> None:
        if c.playing is not None or not c.queue:
            return
        p = c.queue.popleft()
        p.started = self.clock.monotonic()
        p.heard = Heard(p.audio.label, self.clock.now(), p.audio.seconds)
        self._hear(c, p.heard)
        p.piece = _Piece(p.started, p.audio)
        self._produce(c, p.piece)
        c.playing = p
        p.timer = self._later(c, p.audio.seconds, lambda: self._playback_done(c, p))
        self._heard_triggers(c, p.audio.label)

    def _playback_done(self, c: _Call, p: _Playback) -> None:
        c.playing = None
        self._emit(c, PlaybackDone(c.call_id, p.playback_id, self.clock.now()))
        self._next_playback(c)

    def _interrupt(self, c: _Call, p: _Playback) -> None:
        """Cut the playing `p` short where the clock is now."""
        self._cancel(c, p.timer)
        at = self.clock.monotonic()
        if p.piece is not None:
            p.piece.end = min(p.piece.end, at)
        if p.heard is not None:
            cut = replace(p.heard, seconds=at - p.started, interrupted=True)
            for i in range(len(c.heard) - 1, -1, -1):  # it is at or near the end
                if c.heard[i] is p.heard:
                    c.heard[i] = cut
                    break
        c.playing = None
        self._emit(c, PlaybackDone(c.call_id, p.playback_id, self.clock.now(), True))

    def _hear(self, c: _Call, heard: Heard) -> None:
        c.heard.append(heard)

    def _produce(self, c: _Call, piece: _Piece) -> None:
        """A piece of audio on the call: both its legs' recordings capture it."""
        now = self.clock.monotonic()
        for leg in (c, c.peer):
            if leg is None or leg.state == "ended":
                continue
            leg.media = [p for p in leg.media if p.end > now]
            leg.media.append(piece)
            for r in leg.recordings.values():
                r.pieces.append(piece)

    def _finish_recording(self, c: _Call, r: _Recording, call_ended: bool = False) -> None:
        at = self.clock.monotonic()
        if len(r.spans[-1]) == 1:
            r.spans[-1].append(at)
        del c.recordings[r.recording_id]
        parts: list[tuple[float, Audio]] = []
        offset = 0.0
        budget = self.max_recording_seconds
        for t0, t1 in r.spans:
            t1 = min(t1, t0 + budget)
            for p in r.pieces:
                lo, hi = max(p.start, t0), min(p.end, t1)
                if hi > lo:
                    parts.append((offset + lo - t0, _cut(p.audio, lo - p.start, hi - p.start)))
            offset += t1 - t0
            budget -= t1 - t0
            if budget <= 0:
                break
        audio = mix(parts, seconds=offset)
        self._emit(
            c,
            RecordingDone(
                c.call_id, r.recording_id, audio, r.started_at, self.clock.now(), call_ended
            ),
        )

    # --- internals: timers, tasks, events ---------------------------------------------------------

    def _later(self, c: _Call, delay: float, action: Callable[[], object]) -> Timer:
        """A timer that belongs to the call: cancelled when the call ends."""

        def run() -> None:
            c.timers.discard(timer)
            if c.state != "ended":
                action()

        timer = self.clock.call_later(delay, run)
        c.timers.add(timer)
        return timer

    def _cancel(self, c: _Call, timer: Timer | None) -> None:
        if timer is not None:
            timer.cancel()
            c.timers.discard(timer)

    def _spawn(self, c: _Call, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        c.tasks.add(task)
        task.add_done_callback(lambda t: _task_done(c, t))

    def _emit(self, c: _Call, event: VoiceEvent) -> None:
        if self._events is None:
            raise RuntimeError("SimulatorVoice.start() was not called")
        c.outbox.append(event)
        if not c.draining:
            c.draining = True
            task = asyncio.get_running_loop().create_task(self._drain(c))
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)

    async def _drain(self, c: _Call) -> None:
        """Deliver the call's events, one at a time and in order."""
        assert self._events is not None
        try:
            while c.outbox:
                event = c.outbox.popleft()
                try:
                    await self._events.event(event)
                except Exception:
                    log.exception("voice event lost", extra={"call_id": c.call_id})
        finally:
            c.draining = False


def _task_done(c: _Call, task: asyncio.Task[object]) -> None:
    c.tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("handset action failed", exc_info=task.exception(), extra={"call_id": c.call_id})


def _cut(audio: Audio, start: float, end: float) -> Audio:
    """The part of `audio` from `start` to `end` seconds (whole samples)."""
    i0, i1 = round(start * audio.rate), round(end * audio.rate)
    if i0 <= 0 and i1 * 2 >= len(audio.pcm):
        return audio
    return replace(audio, pcm=audio.pcm[2 * i0 : 2 * i1])
