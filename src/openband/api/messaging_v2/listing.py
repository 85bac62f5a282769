"""GET …/messages in Messaging v2's shape: its query parameters, page tokens and list items."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from openband.clock import iso, parse_iso
from openband.core.messaging import (
    DIRECTIONS,
    MAX_LIST_WINDOW,
    MESSAGE_TYPES,
    STATUSES,
    ListedRecipient,
    ListQuery,
    MessageFilter,
)
from openband.core.phone import to_e164
from openband.errors import InvalidInput

_DIGITS = re.compile(r"^\+?\d+$", re.ASCII)

# Bandwidth's sortable fields (listMessageItem names) -> core's sort keys.
SORT_FIELDS = {
    "messageId": "message_id",
    "accountId": "account_id",
    "sourceTn": "sender",
    "destinationTn": "recipient",
    "messageStatus": "status",
    "messageDirection": "direction",
    "messageType": "message_type",
    "segmentCount": "segment_count",
    "errorCode": "error_code",
    "receiveTime": "time",
    "carrierName": "carrier_name",
    "messageSize": "message_size",
    "attachmentCount": "attachment_count",
    "recipientCount": "recipient_count",
}


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset})).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = orjson.loads(raw)["o"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("pageToken is not valid", field="pageToken") from exc
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput("pageToken is not valid", field="pageToken")
    return offset


def _tns(value: str, name: str) -> tuple[list[str], str | None]:
    """Full numbers (comma list of at most 10) or a partial number of 5 or more characters."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise InvalidInput(f"{name} is empty", field=name)
    if len(parts) > 10:
        raise InvalidInput(f"{name} may list at most 10 numbers", field=name)
    full: list[str] = []
    for p in parts:
        if p.startswith("+") or (len(parts) > 1) or len(re.sub(r"\D", "", p)) >= 10:
            try:
                full.append(to_e164(p, field=name))
                continue
            except InvalidInput:
                if len(parts) > 1:
                    raise
        if not _DIGITS.match(p) or len(p) < 5:
            raise InvalidInput(
                f"{name} must be telephone numbers or a partial number of at least 5 digits",
                field=name,
            )
        return [], p
    return full, None


def _int(params: Mapping[str, str], name: str, low: int = 0, high: int | None = None) -> int | None:
    v = params.get(name)
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer", field=name) from exc
    if n < low or (high is not None and n > high):
        bounds = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise InvalidInput(f"{name} must be {bounds}", field=name)
    return n


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    v = params.get(name)
    if not v:
        return None
    try:
        return parse_iso(v)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an ISO-8601 date-time", field=name) from exc


def parse_list_query(account_id: str, params: Mapping[str, str]) -> ListQuery:
    if not any(v != "" for v in params.values()):
        raise InvalidInput("At least one query parameter is required")
    f = MessageFilter(account_id=account_id)
    if params.get("messageId"):
        f.message_ids = [m.strip() for m in params["messageId"].split(",") if m.strip()][:100]
    if params.get("sourceTn"):
        f.sender_exact, f.sender_partial = _tns(params["sourceTn"], "sourceTn")
    if params.get("destinationTn"):
        f.dest_exact, f.dest_partial = _tns(params["destinationTn"], "destinationTn")
    if params.get("messageStatus"):
        f.statuses = [s.strip().upper() for s in params["messageStatus"].split(",") if s.strip()]
        bad = [s for s in f.statuses if s not in STATUSES]
        if bad:
            raise InvalidInput(
                f"messageStatus must be one of {', '.join(STATUSES)}", field="messageStatus"
            )
    if params.get("messageDirection"):
        d = params["messageDirection"].upper()
        if d not in DIRECTIONS:
            raise InvalidInput(
                "messageDirection must be INBOUND or OUTBOUND", field="messageDirection"
            )
        f.direction = d
    if params.get("messageType"):
        t = params["messageType"].lower()
        if t not in MESSAGE_TYPES:
            raise InvalidInput("messageType must be sms, mms or rcs", field="messageType")
        f.message_type = t
    f.error_code = _int(params, "errorCode")
    f.carrier_name = params.get("carrierName") or None
    f.from_time = _time(params, "fromDateTime")
    f.to_time = _time(params, "toDateTime")
    if f.from_time and f.to_time and f.to_time < f.from_time:
        raise InvalidInput("toDateTime must not be before fromDateTime", field="toDateTime")
    f.from_segments = _int(params, "fromSegmentCount")
    f.to_segments = _int(params, "toSegmentCount")
    f.from_size = _int(params, "fromMessageSize")
    f.to_size = _int(params, "toMessageSize")

    sort, descending = "time", True
    if params.get("sort"):
        name, _, order = params["sort"].partition(":")
        order = order.lower() or "asc"
        if name not in SORT_FIELDS or order not in ("asc", "desc"):
            raise InvalidInput(
                "sort must be field:asc or field:desc with a field of the message list",
                field="sort",
            )
        sort, descending = SORT_FIELDS[name], order == "desc"
    limit = _int(params, "limit", 1, MAX_LIST_WINDOW) or 100
    offset = decode_page_token(params["pageToken"]) if params.get("pageToken") else 0
    if offset + limit > MAX_LIST_WINDOW:
        raise InvalidInput("limit + offset must not exceed 10000", field="limit")
    cap_raw = (params.get("limitTotalCount") or "").lower()
    if cap_raw not in ("", "true", "false"):
        raise InvalidInput("limitTotalCount must be true or false", field="limitTotalCount")
    return ListQuery(
        f, sort, descending, offset, limit, MAX_LIST_WINDOW if cap_raw == "true" else None
    )


def list_item(r: ListedRecipient) -> dict[str, Any]:
    """Bandwidth's listMessageItem."""
    return {
        "messageId": r.message_id,
        "accountId": r.account_id,
        "sourceTn": r.sender,
        "destinationTn": r.recipient,
        "messageStatus": r.status,
        "messageDirection": r.direction,
        "messageType": r.message_type,
        "segmentCount": r.segment_count,
        "errorCode": r.error_code or 0,
        "receiveTime": iso(r.created_at),
        "carrierName": r.carrier_name,
        "messageSize": r.message_size,
        "messageLength": r.message_length,
        "attachmentCount": r.attachment_count,
        "recipientCount": r.recipient_count,
        "campaignClass": None,
        "campaignId": None,
        "bwLatency": None,
        "carrierLatency": None,
        "callingNumberCountryA3": _country(r.sender),
        "calledNumberCountryA3": _country(r.recipient),
        "product": None,
        "location": None,
    }


def _country(tn: str) -> str | None:
    return "USA" if tn.startswith("+1") and len(tn) == 12 else None
