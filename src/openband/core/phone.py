"""Telephone numbers: E.164 for the JSON APIs, 10 digits for the Dashboard (NANP) API."""

from __future__ import annotations

import re

import phonenumbers

from openband.errors import InvalidInput

_TEN = re.compile(r"^[2-9]\d{2}[2-9]\d{6}$", re.ASCII)


def ascii_digits(text: str) -> bool:
    """Only the digits 0-9 (str.isdigit and int() also take other scripts' digits, '١٢٣')."""
    return text.isascii() and text.isdigit()


def to_e164(value: str, *, field: str = "number") -> str:
    """Parse a number the way Bandwidth accepts it: E.164, or a US number without `+1`.
    ASCII only: libphonenumber would also read other scripts' and full-width digits."""
    if not isinstance(value, str) or not value.strip() or not value.isascii():
        raise InvalidInput(f"'{value}' must be a valid E164 telephone number", field=field)
    raw = value.strip()
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else "US")
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"'{value}' must be a valid E164 telephone number", field=field) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidInput(f"'{value}' must be a valid E164 telephone number", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_nanp_tn(tn: str) -> bool:
    """A 10-digit NANP number as the Dashboard writes it (no +1)."""
    return bool(_TEN.match(tn))


def tn_to_e164(tn: str) -> str:
    """'9195551234' (or '+19195551234', '19195551234') -> '+19195551234'."""
    digits = re.sub(r"\D", "", tn)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if not _TEN.match(digits):
        raise InvalidInput(f"{tn} is not a valid telephone number", field="TelephoneNumber")
    return "+1" + digits


def e164_to_tn(e164: str) -> str:
    """'+19195551234' -> '9195551234' (Dashboard style). Non-NANP numbers keep their digits."""
    return e164[2:] if e164.startswith("+1") and len(e164) == 12 else e164.lstrip("+")
