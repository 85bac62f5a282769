"""What the call interpreter asks for, and what it is told: plain values, no I/O.

The interpreter (interpreter.py) turns `Input`s into `Effect`s; the runtime (runtime.py)
carries each effect out against the carrier, the webhook fetcher, the outbox and the clock, and
feeds what happened back as inputs. Every identifier here is the interpreter's own (playback
and timer tokens, recording ids), so a late input for something already over is recognised
and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from openband.core.voice.model import Target

# --- effects (interpreter -> runtime) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer an inbound call that is still ringing (before its first media verb)."""


@dataclass(frozen=True, slots=True)
class Speak:
    playback_id: str
    text: str  # the sentence with its SSML markup
    voice: str | None
    gender: str | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class PlayFile:
    playback_id: str
    url: str  # absolute (resolved against the document's URL)
    auth: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class Collect:
    """Report the far end's key presses (True) or stop (False)."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class SetTimer:
    token: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    token: str


@dataclass(frozen=True, slots=True)
class FetchBxml:
    """A webhook whose answer is BXML: the runtime renders the body, fetches (fallback
    included) and answers with `Fetched` or `FetchFailed`."""

    token: str
    event_type: str  # answer initiate redirect gather recordComplete …
    target: Target
    tag: str | None  # the tag the body carries: the call's (a verb's tag attribute sets it)
    extra: dict[str, Any] = field(default_factory=dict)  # wire fields beyond the common ones


@dataclass(frozen=True, slots=True)
class Notify:
    """A webhook that expects no BXML (dtmf, recordingAvailable …): through the outbox."""

    event_type: str
    target: Target
    tag: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendDigits:
    digits: str
    tone_ms: int
    gap_ms: int


@dataclass(frozen=True, slots=True)
class Record:
    recording_id: str
    action: Literal["start", "pause", "resume", "stop"]


@dataclass(frozen=True, slots=True)
class KeepRecording:
    """Store a finished recording's audio (when RecordingDone arrives) and, if `available` is
    set, send recordingAvailable there once it is stored."""

    recording_id: str
    file_format: Literal["wav", "mp3"]
    available: Target | None
    tag: str | None


@dataclass(frozen=True, slots=True)
class SetTag:
    tag: str | None  # None clears


@dataclass(frozen=True, slots=True)
class HangUp:
    """End the call from the platform's side with `cause` (hangup, or an error cause)."""

    cause: str = "hangup"
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A line of the call's history (GET /sim/v1/calls/{id}): a verb run, a digit, …"""

    kind: str
    detail: dict[str, Any]


Effect = (
    Answer
    | Speak
    | PlayFile
    | StopPlayback
    | Collect
    | SetTimer
    | CancelTimer
    | FetchBxml
    | Notify
    | SendDigits
    | Record
    | KeepRecording
    | SetTag
    | HangUp
    | Note
)

# --- inputs (runtime -> interpreter) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Begin:
    """A BXML document to run from its first verb (a webhook's answer, PUT …/bxml)."""

    verbs: tuple[Any, ...]
    base_url: str  # relative URLs in it resolve against this


@dataclass(frozen=True, slots=True)
class Fetched:
    token: str
    verbs: tuple[Any, ...]
    base_url: str


@dataclass(frozen=True, slots=True)
class FetchFailed:
    token: str
    cause: str  # callback-error | invalid-bxml
    message: str


@dataclass(frozen=True, slots=True)
class Played:
    playback_id: str
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    token: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """A recording stopped and was stored: its metadata for recordComplete."""

    recording_id: str
    duration: float
    media_url: str
    start_time: str
    end_time: str
    file_format: str
    channels: int


@dataclass(frozen=True, slots=True)
class Redirect:
    """POST …/calls/{id} with state active: fetch the redirect URL now, whatever is running."""

    target: Target


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over (either side hung up): stop everything."""


Input = Begin | Fetched | FetchFailed | Played | Digit | TimerFired | Recorded | Redirect | Ended
