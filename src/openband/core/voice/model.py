"""What a call is, as core/voice knows it: typed values in and out, no wire shapes.

Each API family (v2 today, v1 next) turns its request into a `NewCall` or `CallUpdate` and
renders a `Call` and `CallEvent` in its own shape. Names follow Bandwidth's Voice API v2
(bandwidth-api.md §3.2), so the mapping is one-to-one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

State = Literal["queued", "initiated", "answered", "disconnected"]
Direction = Literal["inbound", "outbound"]
Method = Literal["GET", "POST"]

# Every disconnectCause of Bandwidth's callState (§3.2), in its order.
CAUSES = (
    "hangup",
    "busy",
    "timeout",
    "cancel",
    "rejected",
    "callback-error",
    "invalid-bxml",
    "application-error",
    "account-limit",
    "node-capacity-exceeded",
    "error",
    "unknown",
)

DEFAULT_CALL_TIMEOUT = 30.0  # seconds to ring (callTimeout, 1-300)
DEFAULT_CALLBACK_TIMEOUT = 15.0  # seconds a BXML webhook may take (callbackTimeout, 1-25)
DEFAULT_PRIORITY = 5  # 1 is highest


@dataclass(frozen=True, slots=True)
class Creds:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Target:
    """Where a webhook goes: URL, method, Basic credentials, and its fallback."""

    url: str
    method: Method = "POST"
    creds: Creds | None = None
    fallback_url: str | None = None
    fallback_method: Method = "POST"
    fallback_creds: Creds | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "method": self.method,
            "creds": _creds_json(self.creds),
            "fallbackUrl": self.fallback_url,
            "fallbackMethod": self.fallback_method,
            "fallbackCreds": _creds_json(self.fallback_creds),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Target:
        return cls(
            url=d["url"],
            method=d.get("method") or "POST",
            creds=_creds(d.get("creds")),
            fallback_url=d.get("fallbackUrl"),
            fallback_method=d.get("fallbackMethod") or "POST",
            fallback_creds=_creds(d.get("fallbackCreds")),
        )


def _creds_json(c: Creds | None) -> dict[str, str] | None:
    return {"username": c.username, "password": c.password} if c else None


def _creds(d: dict[str, str] | None) -> Creds | None:
    return Creds(d["username"], d["password"]) if d else None


@dataclass(frozen=True, slots=True)
class NewCall:
    """POST …/calls, validated by the family (shapes) and by core (numbers, application)."""

    account_id: str
    application_id: str
    to: str
    sender: str  # `from`
    answer: Target  # answerUrl/Method, username/password, answerFallback*
    disconnect_url: str | None = None
    disconnect_method: Method = "POST"
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT
    priority: int = DEFAULT_PRIORITY
    tag: str | None = None
    uui: str | None = None
    privacy: bool | None = None
    display_name: str | None = None
    machine_detection: dict[str, Any] | None = None  # kept and echoed; acted on in issue 14


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """POST …/calls/{id}: redirect (state active) or end the call (state completed)."""

    state: Literal["active", "completed"] = "active"
    redirect: Target | None = None
    tag: str | None = None
    clear_tag: bool = False  # tag "" clears it


@dataclass(frozen=True, slots=True)
class Settings:
    """How a call's webhooks are sent: from the create request (outbound) or the application
    (inbound). Stored with the call, secrets sealed."""

    answer: Target | None  # outbound: answerUrl; inbound: CallInitiatedCallbackUrl
    disconnect: Target | None  # disconnectUrl / CallStatusCallbackUrl
    callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    uui: str | None = None
    privacy: bool | None = None
    display_name: str | None = None
    machine_detection: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer.to_json() if self.answer else None,
            "disconnect": self.disconnect.to_json() if self.disconnect else None,
            "callbackTimeout": self.callback_timeout,
            "callTimeout": self.call_timeout,
            "uui": self.uui,
            "privacy": self.privacy,
            "displayName": self.display_name,
            "machineDetection": self.machine_detection,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Settings:
        return cls(
            answer=Target.from_json(d["answer"]) if d.get("answer") else None,
            disconnect=Target.from_json(d["disconnect"]) if d.get("disconnect") else None,
            callback_timeout=float(d.get("callbackTimeout") or DEFAULT_CALLBACK_TIMEOUT),
            call_timeout=float(d.get("callTimeout") or DEFAULT_CALL_TIMEOUT),
            uui=d.get("uui"),
            privacy=d.get("privacy"),
            display_name=d.get("displayName"),
            machine_detection=d.get("machineDetection"),
        )


@dataclass(slots=True)
class Call:
    """A call's row: its identity, lifecycle times and outcome (Bandwidth's callState)."""

    call_id: str
    account_id: str
    application_id: str
    direction: Direction
    sender: str
    to: str
    state: State
    settings: Settings
    enqueued_time: datetime | None = None
    start_time: datetime | None = None
    answer_time: datetime | None = None
    end_time: datetime | None = None
    disconnect_cause: str | None = None
    error_message: str | None = None
    error_id: str | None = None
    last_update: datetime | None = None
    priority: int = DEFAULT_PRIORITY
    tag: str | None = None
    parent_call_id: str | None = None
    node: str | None = None
    created_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.state != "disconnected"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A webhook about a call, as core emits it; the family renders the body (eventType and
    Bandwidth's common fields from `call`, the rest from `extra`, already in wire names)."""

    event_type: str
    call: Call
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording of a call (callRecordingMetadata)."""

    recording_id: str
    call_id: str
    account_id: str
    application_id: str
    direction: Direction
    sender: str
    to: str
    start_time: datetime
    end_time: datetime
    duration: float  # seconds
    channels: int
    file_format: Literal["wav", "mp3"]
    status: Literal["complete", "partial", "error", "processing"]
    size: int
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class ListQuery:
    account_id: str
    to: str | None = None
    sender: str | None = None
    min_start_time: datetime | None = None
    max_start_time: datetime | None = None
    disconnect_cause: str | None = None
    page_size: int = 1000
    after: tuple[datetime, str] | None = None  # the page token's position (created_at, id)
