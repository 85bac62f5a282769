"""Bandwidth's error codes and the small validators every provisioning rule shares.

Validators take the wire's raw strings: blank means absent (None), and a bad value raises
InvalidInput with the element's name as `field`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from openband.errors import InvalidInput

# Codes from Bandwidth's spec.
E_REQUIRED = 1003
E_TOO_LONG = 1011
E_SITE_NOT_FOUND = 12016
E_DEFAULT_PEER = 13522
E_PEER_NOT_FOUND = 13563
E_PEER_HAS_SMS = 13613
E_APP_NOT_FOUND = 13629
E_SMS_HAS_NUMBERS = 13673
# OpenBand's own codes where the spec documents the rule but no code.
E_INVALID_VALUE = 1004
E_SITE_IN_USE = 12060
E_PEER_HAS_NUMBERS = 13614
E_APP_IN_USE = 13630
E_APP_WRONG_TYPE = 13631
E_FEATURE_EXISTS = 13632
E_FEATURE_MISSING = 13633

_ID = re.compile(r"^\d{1,18}$", re.ASCII)  # fits BIGINT; anything else cannot name a site or peer


def text(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    return v or None


def missing(label: str) -> InvalidInput:
    return InvalidInput(f"{label} is required", code=E_REQUIRED, field=label)


def required_text(value: str | None, label: str) -> str:
    v = text(value)
    if v is None:
        raise missing(label)
    return v


def max_len(value: str | None, label: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidInput(
            f"{label} is too long. Max length {limit} characters.", code=E_TOO_LONG, field=label
        )
    return value


def invalid(label: str, value: object, expected: str) -> InvalidInput:
    shown = str(value)[:64]
    return InvalidInput(
        f"{label} value '{shown}' is not valid. {expected}", code=E_INVALID_VALUE, field=label
    )


def parse_bool(value: str | None, label: str) -> bool | None:
    v = text(value)
    if v is None:
        return None
    low = v.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise invalid(label, v, "Valid values are true or false.")


def choice(value: str | None, label: str, choices: tuple[str, ...]) -> str | None:
    v = text(value)
    if v is None:
        return None
    for c in choices:
        if c.lower() == v.lower():
            return c
    raise invalid(label, v, f"Valid values are: {', '.join(choices)}.")


def required_choice(value: str | None, label: str, choices: tuple[str, ...]) -> str:
    v = choice(value, label, choices)
    if v is None:
        raise missing(label)
    return v


def http_url(value: str | None, label: str) -> str | None:
    v = text(value)
    if v is None:
        return None
    max_len(v, label, 2048)
    try:
        parts = urlsplit(v)
    except ValueError as exc:
        raise invalid(label, v, "An absolute http(s) URL is required.") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid(label, v, "An absolute http(s) URL is required.")
    return v


def numeric_id(value: int | str) -> int | None:
    """A site or peer id as the database holds it, or None when `value` cannot be one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value < 2**63 else None
    s = str(value).strip()
    return int(s) if _ID.match(s) else None
