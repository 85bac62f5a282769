"""The voice carrier interface: commands core/voice gives a call's far end, events it hears back.

A voice carrier connects the platform's calls to a network: the simulator's handsets today
(network/sim), a SIP/RTP connector later. The call engine (core/voice, built on this in the
voice issue) owns every decision — when to answer, what to play, when to hang up — and the
carrier only carries it out and reports what happened. Commands return once the carrier has
taken them; their outcome arrives later as an event, in order per call, through the
VoiceEvents sink the carrier was started with. A call is named by its Bandwidth callId
(`c-…`, openband.ids.call_id) on both sides, whichever side placed it.

Audio crosses this boundary as 16-bit mono linear PCM (`Audio`): what speech synthesis and
decoded files produce and what every RTP codec (G.711, Opus) is encoded from, so neither side
depends on the other's codecs. Each piece carries a label saying what it is (the sentence and
voice, the file's URL, the digits), which the simulator keeps as "what the handset heard".

Nothing here names a database or HTTP: a carrier is handed values and reports values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from openband.audio.pcm import Audio  # defined in the audio leaf package; re-exported here

# How the network ended a call (a subset of Bandwidth's disconnectCause values: the others —
# invalid-bxml, callback-error, account-limit — are decided by the platform, not the network).
NetworkCause = Literal["hangup", "busy", "timeout", "cancel", "rejected", "error", "unknown"]
RejectReason = Literal["busy", "rejected"]
RecordAction = Literal["start", "pause", "resume", "stop"]


class UnknownCall(LookupError):
    """No such call in progress on the carrier: never placed there, forgotten, or (for a
    simulated handset) ended."""

    def __init__(self, call_id: str, detail: str = "no such call in progress") -> None:
        super().__init__(f"{call_id}: {detail}")
        self.call_id = call_id


class CallStateError(RuntimeError):
    """The call exists but cannot take this command now (e.g. answering a call the platform
    placed, pressing keys before the handset answered)."""


@dataclass(frozen=True, slots=True)
class OutboundCall:
    """A call the platform places (POST …/calls, or a leg of a transfer later)."""

    call_id: str
    account_id: str
    sender: str  # E.164, the caller id shown
    to: str  # E.164 (a SIP URI once a SIP connector exists)
    ring_timeout: float  # seconds to ring before giving up with cause "timeout" (callTimeout)
    display_name: str | None = None
    privacy: bool = False
    uui: str | None = None  # user-to-user information (SIP User-to-User header)


# --- events (carrier -> core) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """The network offers a call to a platform number: core answers or rejects it."""

    call_id: str
    sender: str
    to: str
    at: datetime
    display_name: str | None = None
    uui: str | None = None


@dataclass(frozen=True, slots=True)
class Ringing:
    call_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Answered:
    call_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The far end pressed a key (reported only while collecting, see `collect_dtmf`)."""

    call_id: str
    digit: str  # one of 0-9 * # A-D
    at: datetime


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    call_id: str
    playback_id: str
    at: datetime
    interrupted: bool = False  # stopped (stop_playback, or the call ended) before its end


@dataclass(frozen=True, slots=True)
class RecordingDone:
    """A recording stopped (or the call ended while recording): what the carrier captured."""

    call_id: str
    recording_id: str
    audio: Audio
    started_at: datetime
    ended_at: datetime
    call_ended: bool = False  # stopped because the call ended (no recordComplete then)


@dataclass(frozen=True, slots=True)
class Disconnected:
    call_id: str
    cause: NetworkCause
    at: datetime
    error: str | None = None  # a human-readable reason when cause is "error"


VoiceEvent = IncomingCall | Ringing | Answered | Dtmf | PlaybackDone | RecordingDone | Disconnected


class Speaker(Protocol):
    """Speech synthesis, as a carrier needs it: the simulator's handsets speak with it
    (openband.audio.speech.Speech is the real one; tests pass a fake)."""

    async def speak(
        self,
        text: str,
        *,
        voice: str | None = None,
        gender: str | None = None,
        locale: str | None = None,
    ) -> Audio: ...


class VoiceEvents(Protocol):
    """Implemented by core/voice: how a carrier reports. Each event is recorded durably before
    this returns; a carrier delivers a call's events one at a time, in order."""

    async def event(self, event: VoiceEvent) -> None: ...


class VoiceCarrier(Protocol):
    name: str

    def start(self, events: VoiceEvents) -> None:
        """Begin reporting to `events` (incoming calls included)."""
        ...

    async def place(self, call: OutboundCall) -> None:
        """Dial out. Then: Ringing, and Answered or Disconnected (busy, timeout, rejected…)."""
        ...

    async def answer(self, call_id: str) -> None:
        """Answer an IncomingCall. Then: Answered (or Disconnected if the caller gave up)."""
        ...

    async def reject(self, call_id: str, reason: RejectReason) -> None:
        """Refuse an IncomingCall. Then: Disconnected with `reason` as its cause."""
        ...

    async def hang_up(self, call_id: str) -> None:
        """End the call from the platform's side. Then: Disconnected (cause "hangup")."""
        ...

    async def play(self, call_id: str, playback_id: str, audio: Audio) -> None:
        """Play to the far end, after anything already queued. Then: PlaybackDone."""
        ...

    async def stop_playback(self, call_id: str, playback_id: str) -> None:
        """Cut a playback short (a Gather's prompt at the first digit). Then: PlaybackDone
        with interrupted=True, unless it had already finished."""
        ...

    async def send_dtmf(self, call_id: str, digits: str, tone_ms: int, gap_ms: int) -> None:
        """Send DTMF to the far end (RFC 4733 events on SIP; tones to a handset)."""
        ...

    async def collect_dtmf(self, call_id: str, enabled: bool) -> None:
        """Report the far end's key presses as Dtmf events, or stop reporting them."""
        ...

    async def record(self, call_id: str, recording_id: str, action: RecordAction) -> None:
        """Start, pause, resume or stop capturing the call's audio (both directions mixed).
        "stop" (or the call's end) brings RecordingDone with what was captured."""
        ...
