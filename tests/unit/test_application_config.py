"""ApplicationConfig: the stored applications.config dict, typed, and the messaging callback rules.

The stored shapes are the ones tests/api/test_applications.py writes through the Dashboard API.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from openband.core.provisioning import (
    CONFIG_KEYS,
    MESSAGING,
    VOICE,
    ApplicationConfig,
    Credentials,
    MessagingConfig,
    VoiceConfig,
)

# SEED_APP as stored.
SEED = {
    "callback_url": "https://yourSecureSite.com/callbacks",
    "callback_creds": {"user_id": "Your-User-id", "password": "Your-Password"},
}
# MESSAGING_APP (the spec's messaging example) as stored.
MESSAGING_EXAMPLE = {
    "inbound_callback_url": "https://example.com",
    "outbound_callback_url": "https://example2.com",
    "inbound_callback_creds": {"user_id": "15jPWZmXdm", "password": "xxv3jPsPR2"},
    "outbound_callback_creds": {"user_id": "15jPWZmXdm", "password": "xxv3jPsPR2"},
    "requested_callback_types": ["message-delivered", "message-failed", "message-sending"],
}
# VOICE_APP (the spec's voice example) as stored.
VOICE_EXAMPLE = {
    "call_initiated_callback_url": "https://a.com",
    "call_initiated_method": "GET",
    "call_status_callback_url": "https://b.com",
    "call_status_method": "GET",
    "callback_creds": {"user_id": "login123", "password": "password123"},
    "call_initiated_fallback_url": "https://fallback.com",
    "call_initiated_fallback_method": "POST",
    "call_initiated_fallback_creds": {"user_id": "login2", "password": "Password3"},
    "callback_timeout": 20,
}
# Creds given without a password (or without a user) keep the missing part as null.
PARTIAL_CREDS = {
    "inbound_callback_url": "https://new.example.com/in",
    "inbound_callback_creds": {"user_id": "15jPWZmXdm", "password": None},
    "msg_callback_url": "https://m.example.com",
    "msg_callback_creds": {"user_id": None, "password": "only-a-password"},
    "callback_timeout": 12.5,
}


def load(data: dict[str, Any] | None, service_type: str = MESSAGING) -> ApplicationConfig:
    return ApplicationConfig.from_json(service_type, data)


def messaging(**kw: Any) -> MessagingConfig:
    return MessagingConfig(**kw)


# --- stored shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "service_type,stored",
    [
        (MESSAGING, SEED),
        (MESSAGING, MESSAGING_EXAMPLE),
        (VOICE, VOICE_EXAMPLE),
        (MESSAGING, PARTIAL_CREDS),
        (MESSAGING, {}),
    ],
    ids=["seed", "messaging", "voice", "partial-creds", "empty"],
)
def test_round_trip_of_todays_shapes(service_type: str, stored: dict[str, Any]) -> None:
    config = load(stored, service_type)
    assert config.service_type == service_type
    assert config.to_json() == stored
    assert load(config.to_json(), service_type) == config


def test_typed_fields_of_the_examples() -> None:
    m = load(MESSAGING_EXAMPLE).messaging
    assert m.inbound_callback_url == "https://example.com"
    assert m.outbound_creds == Credentials("15jPWZmXdm", "xxv3jPsPR2")
    assert m.requested_callback_types == (
        "message-delivered",
        "message-failed",
        "message-sending",
    )
    v = load(VOICE_EXAMPLE, VOICE).voice
    assert v.call_initiated_method == "GET"
    assert v.call_initiated_fallback_creds == Credentials("login2", "Password3")
    assert v.callback_timeout == 20.0
    assert load(PARTIAL_CREDS).messaging.inbound_creds == Credentials("15jPWZmXdm", "")
    assert load(PARTIAL_CREDS).messaging.msg_callback_creds == Credentials("", "only-a-password")


def test_callback_timeout_is_stored_as_bandwidth_writes_it() -> None:
    assert type(load(VOICE_EXAMPLE, VOICE).to_json()["callback_timeout"]) is int
    voice = VoiceConfig(call_initiated_callback_url="https://a.com", callback_timeout=20.0)
    assert ApplicationConfig(VOICE, voice=voice).to_json()["callback_timeout"] == 20
    assert type(ApplicationConfig(VOICE, voice=voice).to_json()["callback_timeout"]) is int
    half = dataclasses.replace(voice, callback_timeout=12.5)
    assert ApplicationConfig(VOICE, voice=half).to_json()["callback_timeout"] == 12.5


def test_absent_values_are_omitted_and_defaults_apply() -> None:
    config = load({"call_initiated_callback_url": "https://a.com"}, VOICE)
    assert config.to_json() == {"call_initiated_callback_url": "https://a.com"}
    v = config.voice
    assert v.call_initiated_method is None and v.callback_timeout is None
    assert v.effective_initiated_method == "POST"
    assert v.effective_status_method == "POST"
    assert v.effective_fallback_method == "POST"
    assert v.effective_timeout == 15.0
    assert load(VOICE_EXAMPLE, VOICE).voice.effective_initiated_method == "GET"
    assert load(VOICE_EXAMPLE, VOICE).voice.effective_timeout == 20.0
    # No requested types means every type, and nothing is stored for it.
    assert messaging().requested_callback_types == ()
    assert ApplicationConfig(MESSAGING, messaging()).to_json() == {}


def test_callback_creds_serve_both_families() -> None:
    config = load(SEED)
    assert config.messaging.callback_creds == config.voice.callback_creds
    assert config.voice.callback_creds == Credentials("Your-User-id", "Your-Password")
    only_voice = ApplicationConfig(VOICE, voice=VoiceConfig(callback_creds=Credentials("u", "p")))
    assert only_voice.to_json() == {"callback_creds": {"user_id": "u", "password": "p"}}
    with pytest.raises(ValueError):
        ApplicationConfig(
            MESSAGING,
            messaging(callback_creds=Credentials("a", "b")),
            VoiceConfig(callback_creds=Credentials("c", "d")),
        )


def test_config_keys_are_todays_stored_keys() -> None:
    assert set(CONFIG_KEYS) == {
        "inbound_callback_url",
        "outbound_callback_url",
        "callback_url",
        "msg_callback_url",
        "call_initiated_callback_url",
        "call_status_callback_url",
        "call_initiated_fallback_url",
        "call_initiated_method",
        "call_status_method",
        "call_initiated_fallback_method",
        "inbound_callback_creds",
        "outbound_callback_creds",
        "callback_creds",
        "msg_callback_creds",
        "call_initiated_fallback_creds",
        "requested_callback_types",
        "callback_timeout",
        "signing_secret",  # OpenBand's <OpenBandSigningSecret>
    }
    assert len(CONFIG_KEYS) == len(set(CONFIG_KEYS))


# --- tolerant parsing --------------------------------------------------------------------------


def test_unknown_keys_are_ignored_and_not_written_back() -> None:
    stored = {**SEED, "InboundCallbackUrl": "https://camel.example", "future_setting": {"x": 1}}
    config = load(stored)
    assert config == load(SEED)
    assert config.to_json() == SEED


@pytest.mark.parametrize("data", [None, {}, [], "not a dict"])
def test_missing_or_malformed_document_is_empty(data: Any) -> None:
    config = load(data)
    assert config == ApplicationConfig(MESSAGING)
    assert config.to_json() == {}
    assert config.messaging.status_target("message-delivered", "sms") is None
    assert config.messaging.inbound_target() is None


def test_values_of_the_wrong_shape_are_ignored() -> None:
    config = load(
        {
            "callback_url": "",
            "msg_callback_url": None,
            "callback_creds": "user:password",
            "msg_callback_creds": {"user_id": None, "password": ""},
            "inbound_callback_creds": {},
            "callback_timeout": "soon",
            "call_status_method": "",
        }
    )
    assert config == ApplicationConfig(MESSAGING)
    assert config.to_json() == {}
    assert load({"callback_timeout": True}).voice.callback_timeout is None
    assert load({"callback_timeout": "nan"}).voice.callback_timeout is None


def test_older_value_forms_are_read() -> None:
    config = load(
        {
            "callback_timeout": "12",
            "requested_callback_types": "message-failed",
            "outbound_callback_creds": {"user_id": "u"},
        }
    )
    assert config.voice.callback_timeout == 12.0
    assert config.messaging.requested_callback_types == ("message-failed",)
    assert config.messaging.outbound_creds == Credentials("u", "")
    assert config.to_json() == {
        "callback_timeout": 12,
        "requested_callback_types": ["message-failed"],
        "outbound_callback_creds": {"user_id": "u", "password": None},
    }


def test_credentials_keep_the_password_out_of_repr() -> None:
    creds = Credentials("user", "s3cret")
    assert "s3cret" not in repr(creds) and "s3cret" not in repr(load(SEED))
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.user = "other"  # type: ignore[misc]
    assert hash(load(MESSAGING_EXAMPLE)) == hash(load(dict(MESSAGING_EXAMPLE)))


# --- status_target -----------------------------------------------------------------------------

OUT = Credentials("out", "o")
LEGACY = Credentials("legacy", "l")
MSG = Credentials("msg", "m")


def test_message_sending_is_sent_for_mms_only() -> None:
    m = messaging(outbound_callback_url="https://a/out")
    assert m.status_target("message-sending", "sms") is None
    assert m.status_target("message-sending", "mms") == ("https://a/out", None)
    assert m.status_target("message-delivered", "sms") == ("https://a/out", None)
    assert m.status_target("message-failed", "sms") == ("https://a/out", None)


def test_requested_callback_types_filter_status_events() -> None:
    m = messaging(
        outbound_callback_url="https://a/out", requested_callback_types=("message-failed",)
    )
    assert m.status_target("message-delivered", "sms") is None
    assert m.status_target("message-sending", "mms") is None
    assert m.status_target("message-failed", "sms") == ("https://a/out", None)
    # The filter does not let message-sending through for SMS.
    sending = dataclasses.replace(m, requested_callback_types=("message-sending",))
    assert sending.status_target("message-sending", "sms") is None
    assert sending.status_target("message-sending", "mms") == ("https://a/out", None)


def test_status_url_falls_back_outbound_then_callback_then_msg() -> None:
    m = messaging(
        outbound_callback_url="https://a/out",
        callback_url="https://a/legacy",
        msg_callback_url="https://a/msg",
        inbound_callback_url="https://a/in",
    )
    assert m.status_target("message-delivered", "sms") == ("https://a/out", None)
    m = dataclasses.replace(m, outbound_callback_url=None)
    assert m.status_target("message-delivered", "sms") == ("https://a/legacy", None)
    m = dataclasses.replace(m, callback_url=None)
    assert m.status_target("message-delivered", "sms") == ("https://a/msg", None)
    # The inbound URL never receives status events.
    m = dataclasses.replace(m, msg_callback_url=None)
    assert m.status_target("message-delivered", "sms") is None


def test_status_creds_fall_back_independently_of_the_url() -> None:
    m = messaging(
        outbound_callback_url="https://a/out",
        outbound_creds=OUT,
        callback_creds=LEGACY,
        msg_callback_creds=MSG,
        inbound_creds=Credentials("in", "i"),
    )
    assert m.status_target("message-failed", "sms") == ("https://a/out", OUT)
    m = dataclasses.replace(m, outbound_creds=None)
    assert m.status_target("message-failed", "sms") == ("https://a/out", LEGACY)
    m = dataclasses.replace(m, callback_creds=None)
    assert m.status_target("message-failed", "sms") == ("https://a/out", MSG)
    m = dataclasses.replace(m, msg_callback_creds=None)
    assert m.status_target("message-failed", "sms") == ("https://a/out", None)


def test_status_target_from_stored_documents() -> None:
    assert load(SEED).messaging.status_target("message-delivered", "sms") == (
        "https://yourSecureSite.com/callbacks",
        Credentials("Your-User-id", "Your-Password"),
    )
    example = load(MESSAGING_EXAMPLE).messaging
    assert example.status_target("message-sending", "mms") == (
        "https://example2.com",
        Credentials("15jPWZmXdm", "xxv3jPsPR2"),
    )
    # A password-only creds still authenticates (user ""), as today's rule does.
    partial = load({"callback_url": "https://l", "callback_creds": {"password": "p"}}).messaging
    assert partial.status_target("message-failed", "sms") == ("https://l", Credentials("", "p"))


# --- inbound_target ----------------------------------------------------------------------------


def test_inbound_url_and_creds_fall_back_inbound_then_callback_then_msg() -> None:
    inbound = Credentials("in", "i")
    m = messaging(
        inbound_callback_url="https://a/in",
        callback_url="https://a/legacy",
        msg_callback_url="https://a/msg",
        outbound_callback_url="https://a/out",
        inbound_creds=inbound,
        callback_creds=LEGACY,
        msg_callback_creds=MSG,
        outbound_creds=OUT,
        requested_callback_types=("message-failed",),  # filters status events only
    )
    assert m.inbound_target() == ("https://a/in", inbound)
    m = dataclasses.replace(m, inbound_callback_url=None, inbound_creds=None)
    assert m.inbound_target() == ("https://a/legacy", LEGACY)
    m = dataclasses.replace(m, callback_url=None, callback_creds=None)
    assert m.inbound_target() == ("https://a/msg", MSG)
    m = dataclasses.replace(m, msg_callback_creds=None)
    assert m.inbound_target() == ("https://a/msg", None)  # never the outbound creds
    m = dataclasses.replace(m, msg_callback_url=None)
    assert m.inbound_target() is None  # never the outbound URL


def test_inbound_target_from_stored_documents() -> None:
    assert load(MESSAGING_EXAMPLE).messaging.inbound_target() == (
        "https://example.com",
        Credentials("15jPWZmXdm", "xxv3jPsPR2"),
    )
    assert load({"msg_callback_url": "https://m"}).messaging.inbound_target() == ("https://m", None)
    assert load(VOICE_EXAMPLE, VOICE).messaging.inbound_target() is None
