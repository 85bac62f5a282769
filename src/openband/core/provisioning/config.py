"""An application's callback settings, typed: the one place that knows the `applications.config`
JSON keys.

The stored shape is unchanged (no migration): snake_case keys, creds as {"user_id", "password"},
requested_callback_types as a list, callback_timeout as a number, absent values omitted. Each
field below names its stored key (its own name unless said otherwise), how it is stored and its
Bandwidth element; from_json, to_json and the key tables are derived from those declarations.

Readers: messaging callbacks (MessagingConfig.status_target / inbound_target), the Dashboard
(rendering), voice (VoiceConfig). Built once per application and cached, so building is cheap and
never raises on stored data.

Secrets at rest: in the stored dict every creds password and the signing secret are sealed
(sealing.Sealer); from_json and to_json speak the plain form. `load` opens a stored dict and
`stored` seals one (the only ways between the database and the typed config that carry
secrets); `redacted` reads one without its secrets, for rendering. A plaintext value stored
before sealing opens as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from openband.sealing import Sealer

MESSAGING = "Messaging-V2"
VOICE = "Voice-V2"
CALLBACK_TYPES = ("message-delivered", "message-failed", "message-sending")
# Bandwidth's behaviour when an application leaves these out.
DEFAULT_METHOD = "POST"
DEFAULT_CALLBACK_TIMEOUT = 15.0

# How a value is stored: url/method as strings, creds as {"user_id", "password"}, types as a
# list of strings, seconds as a number, secret as a (sealed) string.
Kind = Literal["url", "method", "creds", "types", "seconds", "secret"]
# OpenBand's addition to the Application document: the key of the callbacks' HMAC signature
# (delivery/signing.py), write-only like the creds' passwords.
SIGNING_SECRET_KEY = "signing_secret"
SIGNING_SECRET_ELEMENT = "OpenBandSigningSecret"


def _stored(kind: Kind, element: str, key: str | None = None) -> dict[str, Any]:
    """A field's metadata: how it is stored, its Bandwidth element, its stored key (when that is
    not the field's name)."""
    return {"kind": kind, "element": element, "key": key}


@dataclass(frozen=True, slots=True)
class Credentials:
    """HTTP Basic credentials for a callback. An empty string is a part that was not given
    (stored as null); at least one part is non-empty."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def from_json(cls, value: Any) -> Credentials | None:
        if isinstance(value, Credentials):  # already typed (provisioning's validated input)
            return value if value.user or value.password else None
        if not isinstance(value, Mapping):
            return None
        user, password = value.get("user_id"), value.get("password")
        if not user and not password:
            return None
        return cls(str(user or ""), str(password or ""))

    def to_json(self) -> dict[str, str | None]:
        return {"user_id": self.user or None, "password": self.password or None}


@dataclass(frozen=True, slots=True)
class MessagingConfig:
    inbound_callback_url: str | None = field(
        default=None, metadata=_stored("url", "InboundCallbackUrl")
    )
    outbound_callback_url: str | None = field(
        default=None, metadata=_stored("url", "OutboundCallbackUrl")
    )
    inbound_creds: Credentials | None = field(
        default=None, metadata=_stored("creds", "InboundCallbackCreds", "inbound_callback_creds")
    )
    outbound_creds: Credentials | None = field(
        default=None, metadata=_stored("creds", "OutboundCallbackCreds", "outbound_callback_creds")
    )
    # Empty: every type is sent.
    requested_callback_types: tuple[str, ...] = field(
        default=(), metadata=_stored("types", "RequestedCallbackTypes")
    )
    # Legacy single URL for both directions, still accepted by Bandwidth.
    callback_url: str | None = field(default=None, metadata=_stored("url", "CallbackUrl"))
    msg_callback_url: str | None = field(default=None, metadata=_stored("url", "MsgCallbackUrl"))
    callback_creds: Credentials | None = field(
        default=None, metadata=_stored("creds", "CallbackCreds")
    )
    msg_callback_creds: Credentials | None = field(
        default=None, metadata=_stored("creds", "MsgCallbackCreds")
    )
    # One stored value for both families, like CallbackCreds.
    signing_secret: str | None = field(
        default=None, repr=False, metadata=_stored("secret", SIGNING_SECRET_ELEMENT)
    )

    def status_target(
        self, event_type: str, message_type: str
    ) -> tuple[str, Credentials | None] | None:
        """Where a status event goes (URL, creds), or None when it is not sent at all."""
        if event_type == "message-sending" and message_type != "mms":
            return None  # Bandwidth sends message-sending for MMS only
        requested = self.requested_callback_types
        if requested and event_type not in requested:
            return None
        url = self.outbound_callback_url or self.callback_url or self.msg_callback_url
        if not url:
            return None
        return url, self.outbound_creds or self.callback_creds or self.msg_callback_creds

    def inbound_target(self) -> tuple[str, Credentials | None] | None:
        """Where a message-received event goes (URL, creds), or None."""
        url = self.inbound_callback_url or self.callback_url or self.msg_callback_url
        if not url:
            return None
        return url, self.inbound_creds or self.callback_creds or self.msg_callback_creds


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """None is "not set" (and not stored); the effective_* properties apply Bandwidth's
    defaults."""

    call_initiated_callback_url: str | None = field(
        default=None, metadata=_stored("url", "CallInitiatedCallbackUrl")
    )
    call_initiated_method: str | None = field(
        default=None, metadata=_stored("method", "CallInitiatedMethod")
    )
    call_status_callback_url: str | None = field(
        default=None, metadata=_stored("url", "CallStatusCallbackUrl")
    )
    call_status_method: str | None = field(
        default=None, metadata=_stored("method", "CallStatusMethod")
    )
    call_initiated_fallback_url: str | None = field(
        default=None, metadata=_stored("url", "CallInitiatedFallbackUrl")
    )
    call_initiated_fallback_method: str | None = field(
        default=None, metadata=_stored("method", "CallInitiatedFallbackMethod")
    )
    # The same stored CallbackCreds as MessagingConfig.callback_creds (one element, two uses).
    callback_creds: Credentials | None = field(
        default=None, metadata=_stored("creds", "CallbackCreds")
    )
    call_initiated_fallback_creds: Credentials | None = field(
        default=None, metadata=_stored("creds", "CallInitiatedFallbackCreds")
    )
    callback_timeout: float | None = field(
        default=None, metadata=_stored("seconds", "CallbackTimeout")
    )
    signing_secret: str | None = field(
        default=None, repr=False, metadata=_stored("secret", SIGNING_SECRET_ELEMENT)
    )

    @property
    def effective_initiated_method(self) -> str:
        return self.call_initiated_method or DEFAULT_METHOD

    @property
    def effective_status_method(self) -> str:
        return self.call_status_method or DEFAULT_METHOD

    @property
    def effective_fallback_method(self) -> str:
        return self.call_initiated_fallback_method or DEFAULT_METHOD

    @property
    def effective_timeout(self) -> float:
        return DEFAULT_CALLBACK_TIMEOUT if self.callback_timeout is None else self.callback_timeout


# --- stored form -------------------------------------------------------------------------------


def _read_text(value: Any) -> str | None:
    return str(value) if value else None


def _read_types(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(str(t) for t in value)
    return ()


def _read_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def compact_seconds(seconds: float) -> int | float:
    """20.0 is stored (and shown) as 20, as Bandwidth writes it."""
    return int(seconds) if seconds.is_integer() else seconds


_READ: dict[str, Callable[[Any], Any]] = {
    "url": _read_text,
    "method": _read_text,
    "creds": Credentials.from_json,
    "types": _read_types,
    "seconds": _read_seconds,
    "secret": _read_text,
}
_WRITE: dict[str, Callable[[Any], Any]] = {
    "url": str,
    "method": str,
    "creds": Credentials.to_json,
    "types": list,
    "seconds": compact_seconds,
    "secret": str,
}

# (field name, stored key, kind, Bandwidth element) per field, in declaration order.
_Spec = tuple[str, str, Kind, str]


def _specs(cls: type) -> tuple[_Spec, ...]:
    return tuple(
        (f.name, f.metadata["key"] or f.name, f.metadata["kind"], f.metadata["element"])
        for f in fields(cls)
    )


_MESSAGING_SPECS = _specs(MessagingConfig)
_VOICE_SPECS = _specs(VoiceConfig)

# Stored key -> (kind, Bandwidth element); CallbackCreds is shared, so it appears once.
CONFIG_FIELDS: dict[str, tuple[Kind, str]] = {
    key: (kind, element) for _, key, kind, element in (*_MESSAGING_SPECS, *_VOICE_SPECS)
}


def _of_kind(kind: Kind) -> dict[str, str]:
    return {key: element for key, (k, element) in CONFIG_FIELDS.items() if k == kind}


URL_FIELDS = _of_kind("url")
METHOD_FIELDS = _of_kind("method")
CREDS_FIELDS = _of_kind("creds")
SECRET_FIELDS = _of_kind("secret")
CONFIG_KEYS = (
    *URL_FIELDS,
    *METHOD_FIELDS,
    *CREDS_FIELDS,
    *_of_kind("types"),
    *_of_kind("seconds"),
    *SECRET_FIELDS,
)


def _map_secrets(data: Mapping[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """A copy of a config dict with `fn` applied to every secret in it: each creds password
    and the signing secret (values of other shapes are left for from_json to ignore)."""
    out = dict(data)
    for key in CREDS_FIELDS:
        creds = out.get(key)
        if isinstance(creds, Mapping) and isinstance(creds.get("password"), str):
            out[key] = {**creds, "password": fn(creds["password"])}
    for key in SECRET_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = fn(out[key])
    return out


def open_secrets(stored: Mapping[str, Any], sealer: Sealer) -> dict[str, Any]:
    """The stored dict with its secrets opened (sealing.SealingError if one cannot be)."""
    return _map_secrets(stored, sealer.open)


def seal_secrets(plain: Mapping[str, Any], sealer: Sealer) -> dict[str, Any]:
    return _map_secrets(plain, sealer.seal)


def reseal_secrets(stored: Mapping[str, Any], sealer: Sealer) -> tuple[dict[str, Any], int]:
    """The stored dict with every secret sealed with the first key, and how many changed."""
    changed = 0

    def reseal(value: str) -> str:
        nonlocal changed
        if sealer.is_current(value):
            return value
        changed += 1
        return sealer.reseal(value)

    return _map_secrets(stored, reseal), changed


def _without_secrets(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _map_secrets(stored, lambda _: "").items() if k not in SECRET_FIELDS}


def _load(cls: type, specs: tuple[_Spec, ...], data: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for name, key, kind, _ in specs:
        raw = data.get(key)
        if raw is not None:
            value = _READ[kind](raw)
            if value is not None:
                values[name] = value
    return cls(**values)


def _dump(part: Any, specs: tuple[_Spec, ...], out: dict[str, Any]) -> None:
    for name, key, kind, _ in specs:
        value = getattr(part, name)
        if value is not None and value != ():
            out[key] = _WRITE[kind](value)


@dataclass(frozen=True, slots=True)
class ApplicationConfig:
    service_type: str
    messaging: MessagingConfig = field(default_factory=MessagingConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)

    def __post_init__(self) -> None:
        # CallbackCreds and the signing secret are one stored value each: both halves must agree
        # on them, or to_json is ambiguous.
        for name in ("callback_creds", SIGNING_SECRET_KEY):
            m, v = getattr(self.messaging, name), getattr(self.voice, name)
            if m is not None and v is not None and m != v:
                raise ValueError(f"messaging and voice disagree on {name}")

    @property
    def signing_secret(self) -> str | None:
        return self.messaging.signing_secret or self.voice.signing_secret

    @classmethod
    def load(
        cls, service_type: str, stored: Mapping[str, Any] | None, sealer: Sealer
    ) -> ApplicationConfig:
        """From the stored dict, its secrets opened (sealing.SealingError if one cannot be)."""
        if not isinstance(stored, Mapping):
            stored = {}
        return cls.from_json(service_type, open_secrets(stored, sealer))

    @classmethod
    def redacted(cls, service_type: str, stored: Mapping[str, Any] | None) -> ApplicationConfig:
        """From the stored dict without opening a secret: passwords blank, no signing secret.
        For rendering, which never shows them."""
        if not isinstance(stored, Mapping):
            stored = {}
        return cls.from_json(service_type, _without_secrets(stored))

    def stored(self, sealer: Sealer) -> dict[str, Any]:
        """The dict to store: to_json with every secret sealed."""
        return seal_secrets(self.to_json(), sealer)

    @classmethod
    def from_json(cls, service_type: str, data: Mapping[str, Any] | None) -> ApplicationConfig:
        """From the plain dict (secrets opened: see `load`). Unknown keys and values of the
        wrong type are ignored; values already typed (Credentials, tuples, floats) are taken as
        they are."""
        if not isinstance(data, Mapping):
            data = {}
        return cls(
            service_type,
            _load(MessagingConfig, _MESSAGING_SPECS, data),
            _load(VoiceConfig, _VOICE_SPECS, data),
        )

    def to_json(self) -> dict[str, Any]:
        """The plain dict, secrets unsealed (`stored` seals them): only the values that are
        set."""
        out: dict[str, Any] = {}
        _dump(self.messaging, _MESSAGING_SPECS, out)
        _dump(self.voice, _VOICE_SPECS, out)
        return out
