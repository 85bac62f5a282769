"""Webhook signatures (an OpenBand addition; Bandwidth sends none).

    X-OpenBand-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The timestamp is signed with the body so a captured request cannot be replayed later than the
receiver's tolerance. Several v1= values may appear while a secret is being rotated. See
docs/webhooks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-OpenBand-Signature"
EVENT_ID_HEADER = "X-OpenBand-Event-Id"
DEFAULT_TOLERANCE = 300.0


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def compute(secret: str | bytes, timestamp: int, body: bytes) -> str:
    msg = str(timestamp).encode() + b"." + body
    return hmac.new(_as_bytes(secret), msg, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` sent now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={compute(secret, t, body)}"


def verify(
    secret: str | bytes,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """For receivers: True if `header` signs `body` with `secret` and is fresh enough."""
    if not header:
        return False
    t: int | None = None
    sigs: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                t = int(value)
            except ValueError:
                return False
        elif key == "v1":
            sigs.append(value)
    if t is None or not sigs:
        return False
    current = time.time() if now is None else now
    if tolerance and abs(current - t) > tolerance:
        return False
    expected = compute(secret, t, body)
    return any(hmac.compare_digest(expected, s) for s in sigs)
