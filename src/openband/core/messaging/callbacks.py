"""Callbacks: where an application's status and inbound events go, and the `message` object
(Bandwidth's shape, in the 202 body and in every event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openband.clock import iso


def message_body(
    *,
    message_id: str,
    owner: str,
    application_id: str | None,
    at: datetime,
    segment_count: int,
    direction: str,
    to: tuple[str, ...] | list[str],
    from_tn: str,
    text: str,
    media: tuple[str, ...] | list[str],
    tag: str | None = None,
    priority: str | None = None,
    expiration: datetime | None = None,
) -> dict[str, Any]:
    """Bandwidth's `message` object (202 body, and `message` in callbacks)."""
    out: dict[str, Any] = {
        "id": message_id,
        "owner": owner,
        "applicationId": application_id,
        "time": iso(at),
        "segmentCount": segment_count,
        "direction": direction,
        "to": list(to),
        "from": from_tn,
        "text": text,
        "media": list(media),
    }
    if tag is not None:
        out["tag"] = tag
    if priority is not None:
        out["priority"] = priority
    if expiration is not None:
        out["expiration"] = iso(expiration)
    return out


def _creds(config: dict[str, Any], *keys: str) -> tuple[str, str] | None:
    for key in keys:
        c = config.get(key)
        if isinstance(c, dict) and (c.get("user_id") or c.get("password")):
            return str(c.get("user_id") or ""), str(c.get("password") or "")
    return None


def _first(config: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        v = config.get(key)
        if v:
            return str(v)
    return None


def status_callback_target(
    config: dict[str, Any], event_type: str, message_type: str
) -> tuple[str, tuple[str, str] | None] | None:
    """Where a status event goes (URL, creds), or None when it is not sent at all."""
    if event_type == "message-sending" and message_type != "mms":
        return None
    requested = config.get("requested_callback_types")
    if requested and event_type not in requested:
        return None
    url = _first(config, "outbound_callback_url", "callback_url", "msg_callback_url")
    if url is None:
        return None
    return url, _creds(config, "outbound_callback_creds", "callback_creds", "msg_callback_creds")


def inbound_callback_target(config: dict[str, Any]) -> tuple[str, tuple[str, str] | None] | None:
    url = _first(config, "inbound_callback_url", "callback_url", "msg_callback_url")
    if url is None:
        return None
    return url, _creds(config, "inbound_callback_creds", "callback_creds", "msg_callback_creds")
