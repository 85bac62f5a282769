"""Messaging: the rules of accepting, sending and receiving messages (no HTTP here).

Follow one message:
- `Messaging.accept` validates the request (parse_request), checks the sending number's location
  and application (cached briefly: it is on every request), computes segments and hands the rows
  to the group committer;
- the committer writes many requests' messages in one transaction (rate-limit schedule included)
  and resolves each request after the commit: accepted means durable;
- the pump claims due recipients in batches (message_recipients.send_at, see store/messages.py),
  fetches external media, and hands each to the carrier inside a transaction;
- the carrier reports through MessagingSink, which records the transition and enqueues the
  callback in that same transaction.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.core import ids, ratelimit, segments
from openband.core.clock import iso, now, parse_iso
from openband.core.errors import InvalidInput, NotFound, TooMany
from openband.core.phone import to_e164
from openband.delivery import outbox
from openband.network.base import InboundMessage, OutboundMessage, StatusReport
from openband.store import media as media_repo
from openband.store import messages as repo
from openband.store import provisioning as prov_repo

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.store.db import Database

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10
MAX_TEXT = 2048
MAX_MEDIA = 10
MAX_MEDIA_URL = 4096
MAX_TAG = 1024
PRIORITIES = ("default", "high")

STATUSES = (
    "RECEIVED",
    "QUEUED",
    "SENDING",
    "SENT",
    "FAILED",
    "DELIVERED",
    "ACCEPTED",
    "UNDELIVERED",
)
DIRECTIONS = ("INBOUND", "OUTBOUND")
MESSAGE_TYPES = ("sms", "mms", "rcs")

# Which statuses a recipient may move from to reach each status: forward only, and one terminal
# outcome (delivered or failed) per recipient. Anything else is a duplicate or a regression.
_FORWARD: dict[str, tuple[str, ...]] = {
    "SENDING": ("QUEUED",),
    "SENT": ("QUEUED", "SENDING"),
    "DELIVERED": ("QUEUED", "SENDING", "SENT"),
    "FAILED": ("QUEUED", "SENDING", "SENT"),
}
_CALLBACK_TYPE = {
    "SENDING": "message-sending",
    "DELIVERED": "message-delivered",
    "FAILED": "message-failed",
}

E_EXPIRED = 4360
E_MEDIA_UNAVAILABLE = 4410
E_UNKNOWN = 9999

# Bandwidth's messaging failure codes (api-docs messaging/errors.mdx).
ERROR_DESCRIPTIONS: dict[int, str] = {
    4001: "service-not-allowed",
    4301: "malformed-invalid-encoding",
    4302: "malformed-invalid-from-number",
    4303: "malformed-invalid-to-number",
    4350: "malformed-for-destination",
    4360: "message-not-sent-expiration-date-passed",
    4401: "rejected-routing-error",
    4403: "rejected-forbidden-from-number",
    4404: "rejected-forbidden-to-number",
    4405: "rejected-unallocated-from-number",
    4406: "rejected-unallocated-to-number",
    4407: "rejected-account-not-defined-from-number",
    4408: "rejected-account-not-defined-to-number",
    4409: "rejected-invalid-from-profile",
    4410: "media-unavailable",
    4411: "rejected-message-size-limit-exceeded",
    4412: "media-content-invalid",
    4420: "rejected-carrier-does-not-exist",
    4421: "rejected-forbidden-no-destination",
    4431: "rejected-forbidden-shortcode",
    4432: "rejected-forbidden-country",
    4433: "rejected-forbidden-tollfree",
    4434: "rejected-forbidden-tollfree-for-recipient",
    4435: "forbidden-too-many-recipients",
    4451: "rejected-wrong-user-id",
    4452: "rejected-wrong-application-id",
    4470: "rejected-spam-detected",
    4481: "rejected-from-number-in-blacklist",
    4482: "rejected-to-number-in-blacklist",
    4492: "reject-emergency",
    4493: "rejected-unauthorized",
    4494: "rejected-canceled-message",
    4495: "rejected-invalid-to-number-prefix",
    4700: "invalid-service-type",
    4701: "destination-service-unavailable",
    4702: "destination-subscriber-unavailable",
    4703: "destination-subscriber-unavailable-roaming",
    4704: "destination-subscriber-suspended",
    4705: "destination-subscriber-blocked",
    4711: "destination-rejected-message-size-limit-exceeded",
    4712: "media-content-invalid",
    4720: "invalid-destination-address",
    4721: "destination-number-deactivated",
    4730: "destination-network-unavailable",
    4740: "source-rejected",
    4750: "destination-rejected-message",
    4751: "destination-rejected-due-to-user-opt-out",
    4770: "destination-spam-detected",
    4775: "destination-rejected-due-to-user-opt-out",
    4780: "destination-rejected-due-to-tcpa",
    4781: "destination-rejected-due-to-spam",
    4785: "destination-rejected-due-to-spam-velocity-limit",
    4790: "destination-rejected-due-to-lack-of-proper-authorization",
    4791: "destination-rejected-due-to-blocklist",
    4795: "destination-rejected-due-to-daily-limit",
    4796: "destination-rejected-due-to-unregistered-campaign",
    5100: "destination-app-error",
    5106: "destination-app-error",
    5111: "destination-app-error",
    5201: "destination-app-error",
    5211: "destination-app-error",
    5220: "destination-app-error",
    5230: "destination-app-error",
    5231: "destination-app-error",
    5232: "destination-app-error",
    5500: "destination-tcp-error",
    5501: "destination-tcp-error",
    5600: "destination-carrier-queue-full",
    5610: "destination-carrier-internal-error",
    5620: "destination-carrier-internal-error",
    5630: "destination-carrier-internal-error",
    5650: "destination-failure",
    5999: "unknown-error",
    9902: "delivery-receipt-expired",
    9999: "unknown-error",
}


def describe_error(code: int) -> str:
    return ERROR_DESCRIPTIONS.get(code, "unknown-error")


# --- errors --------------------------------------------------------------------------------------


class RequestInvalid(InvalidInput):
    """A create request with one or more field errors (Bandwidth's `fieldErrors`)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(fields[0][1] if fields else "Your request could not be accepted")
        self.fields = fields


class QueueFull(TooMany):
    kind = "max-message-queue-size-exceeded"

    def __init__(self) -> None:
        super().__init__(
            "The SMS queue for your account is full and cannot accept more messages right now. "
            "Your allowed rate is defined in your account's messaging limits."
        )


# --- the create request --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated create request; numbers in E.164."""

    application_id: str
    to: tuple[str, ...]
    from_tn: str
    text: str
    media: tuple[str, ...]
    tag: str | None
    priority: str
    expiration: datetime | None

    @property
    def message_type(self) -> str:
        return "mms" if self.media or len(self.to) > 1 else "sms"


_NANP_E164 = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")


def _e164(value: str, field: str) -> str:
    # Most requests carry canonical NANP numbers: skip the full parser for those (hot path).
    return value if _NANP_E164.match(value) else to_e164(value, field=field)


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_message_id() -> str:
    """ids.message_id's shape (epoch millis + 17 base-36 chars) from one urandom call."""
    n = int.from_bytes(os.urandom(11), "big")
    tail = []
    for _ in range(17):
        n, r = divmod(n, 36)
        tail.append(_B36[r])
    return f"{int(time.time() * 1000)}{''.join(tail)}"


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_request(body: Any, at: datetime) -> Draft:
    """Validate a create-message body (reference §1.2); collects every field error."""
    if not isinstance(body, dict):
        raise RequestInvalid([("body", "The request body must be a JSON object")])
    errs: list[tuple[str, str]] = []

    app = body.get("applicationId")
    if app is None or (isinstance(app, str) and not app.strip()):
        errs.append(("applicationId", "applicationId is required"))
    elif not isinstance(app, str):
        errs.append(("applicationId", "applicationId must be a string"))

    to_raw = body.get("to")
    to: list[str] = []
    if to_raw is None:
        errs.append(("to", "to is required"))
    else:
        items = [to_raw] if isinstance(to_raw, str) else to_raw
        if not isinstance(items, list):
            errs.append(("to", "to must be a telephone number or an array of them"))
        elif not items:
            errs.append(("to", "to must contain at least one telephone number"))
        elif len(items) > MAX_RECIPIENTS:
            errs.append(("to", f"to may contain at most {MAX_RECIPIENTS} telephone numbers"))
        else:
            for item in items:
                if not isinstance(item, str):
                    errs.append(("to", f"'{item}' must be a valid E164 telephone number"))
                    continue
                try:
                    tn = _e164(item, "to")
                except InvalidInput as exc:
                    errs.append(("to", exc.description))
                    continue
                if tn in to:
                    errs.append(("to", f"'{item}' is given more than once"))
                to.append(tn)

    from_raw = body.get("from")
    from_tn = ""
    if from_raw is None or from_raw == "":
        errs.append(("from", "from is required"))
    elif not isinstance(from_raw, str):
        errs.append(("from", "from must be a valid E164 telephone number"))
    else:
        try:
            from_tn = _e164(from_raw, "from")
        except InvalidInput as exc:
            errs.append(("from", exc.description))

    text = body.get("text")
    if text is None:
        text = ""
    elif not isinstance(text, str):
        errs.append(("text", "text must be a string"))
        text = ""
    elif len(text) > MAX_TEXT:
        errs.append(("text", f"text must be {MAX_TEXT} characters or less"))

    media_raw = body.get("media")
    media: list[str] = []
    if media_raw is not None:
        if not isinstance(media_raw, list):
            errs.append(("media", "media must be an array of URLs"))
        elif len(media_raw) > MAX_MEDIA:
            errs.append(("media", f"media may contain at most {MAX_MEDIA} URLs"))
        else:
            for url in media_raw:
                if not isinstance(url, str) or not _is_http_url(url):
                    errs.append(("media", f"'{url}' is not a valid http(s) URL"))
                elif len(url) > MAX_MEDIA_URL:
                    errs.append(("media", f"media URLs must be {MAX_MEDIA_URL} characters or less"))
                else:
                    media.append(url)
    if not text and not media and not any(f in ("text", "media") for f, _ in errs):
        errs.append(("text", "text or media is required"))

    tag = body.get("tag")
    if tag is not None and not isinstance(tag, str):
        errs.append(("tag", "tag must be a string"))
        tag = None
    elif tag is not None and len(tag) > MAX_TAG:
        errs.append(("tag", f"tag must be {MAX_TAG} characters or less"))

    priority = body.get("priority")
    if priority is None:
        priority = "default"
    elif priority not in PRIORITIES:
        errs.append(("priority", "priority must be one of 'default', 'high'"))

    expiration: datetime | None = None
    exp_raw = body.get("expiration")
    if exp_raw is not None:
        try:
            if not isinstance(exp_raw, str) or "T" not in exp_raw.upper():
                raise ValueError
            expiration = parse_iso(exp_raw)
        except ValueError:
            errs.append(("expiration", "expiration must be an RFC-3339 date-time"))
        else:
            if expiration <= at:
                errs.append(("expiration", "expiration must be in the future"))

    if errs:
        raise RequestInvalid(errs)
    return Draft(
        application_id=str(app),
        to=tuple(to),
        from_tn=from_tn,
        text=text,
        media=tuple(media),
        tag=tag,
        priority=str(priority),
        expiration=expiration,
    )


def check_sender(draft: Draft, sender: repo.SenderRow | None, account_id: str) -> None:
    """The `from` number must be this account's, on a location whose messaging products and
    application fit the message."""
    if sender is None:
        raise RequestInvalid(
            [
                (
                    "from",
                    f"'{draft.from_tn}' is not a telephone number in service on account "
                    f"{account_id}",
                )
            ]
        )
    if sender.peer_id is None or not sender.sms:
        raise RequestInvalid([("from", f"SMS is not enabled on the location of '{draft.from_tn}'")])
    if draft.message_type == "mms" and not sender.mms:
        why = "group messages" if len(draft.to) > 1 else "media"
        raise RequestInvalid(
            [("from", f"MMS ({why}) is not enabled on the location of '{draft.from_tn}'")]
        )
    if sender.app_id != draft.application_id:
        raise RequestInvalid(
            [
                (
                    "applicationId",
                    f"Application '{draft.application_id}' is not the messaging application of "
                    f"the location of '{draft.from_tn}'",
                )
            ]
        )


def segments_of(draft: Draft) -> segments.Segmentation:
    return segments.segment(draft.text)


def segment_count(draft: Draft, seg: segments.Segmentation) -> int:
    # An MMS is one message whatever its text length.
    return 1 if draft.message_type == "mms" else seg.segment_count


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


# --- list / search query -------------------------------------------------------------------------

MAX_LIST_WINDOW = 10_000
_DIGITS = re.compile(r"^\+?\d+$")


@dataclass(frozen=True)
class ListQuery:
    filter: repo.MessageFilter
    sort: str
    descending: bool
    offset: int
    limit: int
    count_cap: int | None


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
        raise InvalidInput(f"{name} must be between {low} and {high or 'any'}", field=name)
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
    f = repo.MessageFilter(account_id=account_id)
    if params.get("messageId"):
        f.message_ids = [m.strip() for m in params["messageId"].split(",") if m.strip()][:100]
    if params.get("sourceTn"):
        f.source_exact, f.source_partial = _tns(params["sourceTn"], "sourceTn")
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

    sort, descending = "receiveTime", True
    if params.get("sort"):
        name, _, order = params["sort"].partition(":")
        order = order.lower() or "asc"
        if name not in repo.SORT_COLUMNS or order not in ("asc", "desc"):
            raise InvalidInput(
                "sort must be field:asc or field:desc with a field of the message list",
                field="sort",
            )
        sort, descending = name, order == "desc"
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


def list_item(r: repo.ListedRecipient) -> dict[str, Any]:
    """Bandwidth's listMessageItem."""
    return {
        "messageId": r.message_id,
        "accountId": r.account_id,
        "sourceTn": r.source_tn,
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
        "callingNumberCountryA3": _country(r.source_tn),
        "calledNumberCountryA3": _country(r.recipient),
        "product": None,
        "location": None,
    }


def _country(tn: str) -> str | None:
    return "USA" if tn.startswith("+1") and len(tn) == 12 else None


# --- media ---------------------------------------------------------------------------------------

MAX_MEDIA_ID = 1024
_MEDIA_PATH = re.compile(r"^(?:/api/v2)?/users/(?P<account>[^/]+)/media/(?P<media_id>.+)$")


def check_media_id(media_id: str) -> str:
    if not media_id or len(media_id) > MAX_MEDIA_ID:
        raise NotFound("Not Found")
    return media_id


def media_url(base: str, account_id: str, media_id: str) -> str:
    return f"{base}/api/v2/users/{quote(account_id, safe='')}/media/{quote(media_id, safe='/')}"


def safe_media_name(name: str, index: int) -> str:
    cleaned = (
        re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1]).strip("._") or f"media{index}"
    )
    return cleaned[:200]


# --- caches --------------------------------------------------------------------------------------


class TtlCache:
    """A small time-bounded memo for hot-path lookups (numbers' locations, limits, apps).

    Concurrent misses of one key share a single lookup: under load, an expiring entry would
    otherwise send every in-flight request to the database at once.
    """

    def __init__(self, ttl: float, max_size: int = 20_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._data: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Future[Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self._data.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def put(self, key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        if len(self._data) >= self.max_size:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)

    async def get_or_load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        hit, value = self.get(key)
        if hit:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = fut
        try:
            value = await load()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) get it re-raised
            raise
        finally:
            self._loading.pop(key, None)
        self.put(key, value)
        fut.set_result(value)
        return value

    def clear(self) -> None:
        self._data.clear()


class _Lru:
    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def put(self, key: str, value: Any) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)


# --- the sink: status reports and inbound messages -----------------------------------------------


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


class MessagingSink:
    """core/messaging's side of network/base.CarrierSink."""

    def __init__(self, settings: Settings, dialect: str) -> None:
        self.settings = settings
        self.dialect = dialect
        self._messages = _Lru(50_000)  # messages never change: cache them for the reports
        self._apps = TtlCache(settings.messaging_cache_seconds)

    @property
    def public_base(self) -> str:
        s = self.settings
        return (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")

    def remember(self, m: repo.MessageRow) -> None:
        self._messages.put(m.id, m)

    async def _message(self, conn: AsyncConnection, message_id: str) -> repo.MessageRow | None:
        m = self._messages.get(message_id)
        if m is None:
            m = await repo.get_message(conn, message_id)
            if m is not None:
                self._messages.put(message_id, m)
        return m

    async def _app_config(
        self, conn: AsyncConnection, account_id: str, app_id: str | None
    ) -> dict[str, Any] | None:
        if not app_id:
            return None
        hit, cfg = self._apps.get(app_id)
        if not hit:
            app = await prov_repo.get_application(conn, account_id, app_id)
            cfg = app.config if app is not None else None
            self._apps.put(app_id, cfg)
        return cfg

    async def report(self, conn: AsyncConnection, report: StatusReport) -> None:
        status = report.status.upper()
        allowed = _FORWARD.get(status)
        if allowed is None:
            raise ValueError(f"unknown status {report.status!r}")
        at = now()
        code = report.error_code if status == "FAILED" else None
        if status == "FAILED" and code is None:
            code = E_UNKNOWN
        moved = await repo.transition(
            conn,
            report.message_id,
            report.recipient,
            status,
            allowed,
            at,
            error_code=code,
            carrier_name=report.carrier_name,
        )
        if not moved:  # a duplicate or a regression: already recorded, nothing to tell
            return
        event_type = _CALLBACK_TYPE.get(status)
        if event_type is None:
            return
        m = await self._message(conn, report.message_id)
        if m is None:
            return
        cfg = await self._app_config(conn, m.account_id, m.application_id)
        target = status_callback_target(cfg or {}, event_type, m.message_type)
        if target is None:
            return
        if status == "DELIVERED":
            description = report.description or "ok"
        elif status == "FAILED":
            description = report.description or describe_error(code or E_UNKNOWN)
        else:
            description = report.description or "Message is sending"
        event: dict[str, Any] = {
            "type": event_type,
            "time": iso(at),
            "description": description,
            "to": report.recipient,
        }
        if code is not None:
            event["errorCode"] = code
        if report.carrier_name:
            event["carrierName"] = report.carrier_name
        event["message"] = message_body(
            message_id=m.id,
            owner=m.owner,
            application_id=m.application_id,
            at=m.created_at,
            segment_count=m.segment_count,
            direction="out",
            to=m.to_tns,
            from_tn=m.from_tn,
            text="",
            media=m.media,
            tag=m.tag,
            priority=m.priority,
        )
        url, auth = target
        await outbox.enqueue(
            conn,
            account_id=m.account_id,
            application_id=m.application_id,
            kind="messaging",
            url=url,
            body_events=[event],
            auth=auth,
            ordering_key=f"{m.id}:{report.recipient}",
            message_id=m.id,
            retry_hours=self.settings.callback_retry_hours,
        )

    async def inbound(self, conn: AsyncConnection, message: InboundMessage) -> list[str]:
        at = now()
        to: list[str] = []
        for tn in message.to:
            with contextlib.suppress(InvalidInput):
                e = to_e164(tn, field="to")
                if e not in to:
                    to.append(e)
        from_tn = message.from_tn
        with contextlib.suppress(InvalidInput):
            from_tn = to_e164(message.from_tn, field="from")
        dests = await repo.destinations(conn, to)
        # Platform media named by URL (on-net MMS): copied so each recipient can GET it.
        linked: list[tuple[str, bytes, str] | str] = []
        for url in message.media_urls:
            item = await self._platform_media(conn, url, at)
            linked.append(item if item is not None else url)
        mms = bool(message.media or message.media_urls) or len(to) > 1
        expires = at + timedelta(hours=self.settings.media_retention_hours)
        text = message.text or ""
        out: list[str] = []
        for d in dests:
            mid = ids.message_id()
            urls: list[str] = []
            stored: list[tuple[str, bytes, str]] = [
                (mi.name, mi.content, mi.content_type) for mi in message.media
            ] + [x for x in linked if not isinstance(x, str)]
            for index, (name, content, ctype) in enumerate(stored):
                media_id = f"{mid}/{index}/{safe_media_name(name, index)}"
                await media_repo.put(
                    conn,
                    self.dialect,
                    account_id=d.account_id,
                    media_id=media_id,
                    content=content,
                    content_type=ctype or "application/octet-stream",
                    cache_control=None,
                    at=at,
                    expires_at=expires,
                )
                urls.append(media_url(self.public_base, d.account_id, media_id))
            urls += [x for x in linked if isinstance(x, str)]
            seg_count = 1 if mms else max(1, message.segment_count or 1)
            await repo.insert_messages(
                conn,
                [
                    {
                        "id": mid,
                        "account_id": d.account_id,
                        "application_id": d.app_id,
                        "direction": "in",
                        "owner": d.tn,
                        "from_tn": from_tn,
                        "to_tns": to,
                        "text": text,
                        "media": urls,
                        "tag": None,
                        "priority": "default",
                        "expiration": None,
                        "segment_count": seg_count,
                        "message_type": "mms" if mms else "sms",
                        "created_at": at,
                    }
                ],
                [
                    {
                        "message_id": mid,
                        "recipient": d.tn,
                        "account_id": d.account_id,
                        "direction": "INBOUND",
                        "source_tn": from_tn,
                        "message_type": "mms" if mms else "sms",
                        "status": "RECEIVED",
                        "error_code": None,
                        "carrier_name": message.carrier_name,
                        "segment_count": seg_count,
                        "message_size": len(text.encode()),
                        "attachment_count": len(urls),
                        "recipient_count": len(to),
                        "send_at": None,
                        "created_at": at,
                        "updated_at": at,
                    }
                ],
            )
            out.append(mid)
            cfg = await self._app_config(conn, d.account_id, d.app_id)
            target = inbound_callback_target(cfg or {})
            if target is None:
                continue
            event = {
                "type": "message-received",
                "time": iso(at),
                "description": "Incoming message received",
                "to": d.tn,
                "message": message_body(
                    message_id=mid,
                    owner=d.tn,
                    application_id=d.app_id,
                    at=at,
                    segment_count=seg_count,
                    direction="in",
                    to=to,
                    from_tn=from_tn,
                    text=text,
                    media=urls,
                ),
            }
            url, auth = target
            await outbox.enqueue(
                conn,
                account_id=d.account_id,
                application_id=d.app_id,
                kind="messaging",
                url=url,
                body_events=[event],
                auth=auth,
                ordering_key=f"{mid}:{d.tn}",
                message_id=mid,
                retry_hours=self.settings.callback_retry_hours,
            )
        return out

    def local_media_ref(self, url: str) -> tuple[str, str] | None:
        """(account, media id) when `url` names media stored on this platform."""
        parts = urlsplit(url)
        base = urlsplit(self.public_base)
        if parts.netloc.lower() != base.netloc.lower() and parts.hostname not in (
            "127.0.0.1",
            "localhost",
        ):
            return None
        if parts.hostname in ("127.0.0.1", "localhost") and parts.port != base.port:
            return None
        m = _MEDIA_PATH.match(parts.path)
        if m is None:
            return None
        return unquote(m.group("account")), unquote(m.group("media_id"))

    async def _platform_media(
        self, conn: AsyncConnection, url: str, at: datetime
    ) -> tuple[str, bytes, str] | None:
        ref = self.local_media_ref(url)
        if ref is None:
            return None
        row = await media_repo.get(conn, ref[0], ref[1], at)
        if row is None:
            return None
        return ref[1].rsplit("/", 1)[-1], row.content, row.content_type


# --- accepting: the group committer --------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Pending:
    account_id: str
    limits: ratelimit.Limits
    from_tn: str
    segments: int
    message_row: dict[str, Any]
    recipient_rows: list[dict[str, Any]]
    future: asyncio.Future[None] = field(repr=False)


class Messaging:
    """The messaging engine of one process: accept path, committer, send pump, media sweep."""

    def __init__(self, settings: Settings, db: Database, extras: dict[str, object]) -> None:
        self.settings = settings
        self.db = db
        self.extras = extras  # the carrier (extras["carrier"]) and delivery worker live here
        self.sink = MessagingSink(settings, db.dialect)
        ttl = settings.messaging_cache_seconds
        self._senders = TtlCache(ttl)
        self._limits = TtlCache(ttl)
        self._queue: asyncio.Queue[_Pending] | None = None
        self._committers: list[asyncio.Task[None]] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._pump_wake = asyncio.Event()
        self._stopping = False
        self.batch_max = settings.messaging_commit_batch
        self.commit_concurrency = settings.messaging_commit_concurrency if db.is_postgres else 1
        self.send_batch = settings.messaging_send_batch
        self.lease = timedelta(seconds=60)
        # SQLite has one writer: this process's committer and pump take turns on an asyncio lock
        # (FIFO, no busy-handler sleeps), and the pump's transactions stay short so an accept
        # never waits long behind a send batch.
        self._write_lock = asyncio.Lock() if not db.is_postgres else None
        if not db.is_postgres:
            self.send_batch = min(self.send_batch, 100)
        self.stats: dict[str, int] = {"commits": 0, "accepted": 0, "sent": 0}

    # --- lifecycle ---

    def start_pump(self) -> None:
        self._stopping = False
        self._pump_task = asyncio.create_task(self._pump_loop(), name="openband-messaging-pump")

    async def stop(self) -> None:
        self._stopping = True
        self._pump_wake.set()
        if self._pump_task is not None:
            await self._pump_task
            self._pump_task = None
        # Let in-flight accepts finish: their callers are waiting for a commit.
        if self._queue is not None:
            while not self._queue.empty():
                await asyncio.sleep(0.01)
        for t in self._committers:
            t.cancel()
        for t in self._committers:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._committers = []
        self._queue = None

    def _ensure_committers(self) -> asyncio.Queue[_Pending]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._committers = [
                asyncio.create_task(self._commit_loop(), name=f"openband-msg-commit-{i}")
                for i in range(self.commit_concurrency)
            ]
        return self._queue

    def clear_caches(self) -> None:
        self._senders.clear()
        self._limits.clear()

    # --- accept ---

    async def _sender(self, account_id: str, tn: str) -> repo.SenderRow | None:
        async def load() -> repo.SenderRow | None:
            async with self.db.connect() as conn:
                return await repo.sender(conn, account_id, tn)

        return await self._senders.get_or_load((account_id, tn), load)

    async def _account_limits(self, account_id: str) -> ratelimit.Limits:
        async def load() -> ratelimit.Limits:
            async with self.db.connect() as conn:
                return ratelimit.Limits.from_json(await repo.account_limits(conn, account_id))

        return await self._limits.get_or_load(account_id, load)

    async def accept(self, account_id: str, body: Any) -> dict[str, Any]:
        """Validate and durably queue one create request; returns the 202 body."""
        at = now()
        draft = parse_request(body, at)
        check_sender(draft, await self._sender(account_id, draft.from_tn), account_id)
        limits = await self._account_limits(account_id)
        seg = segments_of(draft)
        count = segment_count(draft, seg)
        mtype = draft.message_type
        mid = new_message_id()
        size = len(draft.text.encode())
        message_row = {
            "id": mid,
            "account_id": account_id,
            "application_id": draft.application_id,
            "direction": "out",
            "owner": draft.from_tn,
            "from_tn": draft.from_tn,
            "to_tns": list(draft.to),
            "text": draft.text,
            "media": list(draft.media),
            "tag": draft.tag,
            "priority": draft.priority,
            "expiration": draft.expiration,
            "segment_count": count,
            "message_type": mtype,
            "created_at": at,
        }
        recipient_rows = [
            {
                "message_id": mid,
                "recipient": tn,
                "account_id": account_id,
                "direction": "OUTBOUND",
                "source_tn": draft.from_tn,
                "message_type": mtype,
                "status": "QUEUED",
                "error_code": None,
                "carrier_name": None,
                "segment_count": count,
                "message_size": size,
                "attachment_count": len(draft.media),
                "recipient_count": len(draft.to),
                "send_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for tn in draft.to
        ]
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ensure_committers().put_nowait(
            _Pending(account_id, limits, draft.from_tn, count, message_row, recipient_rows, fut)
        )
        await fut  # resolved after the commit: accepted means durable
        return message_body(
            message_id=mid,
            owner=draft.from_tn,
            application_id=draft.application_id,
            at=at,
            segment_count=count,
            direction="out",
            to=draft.to,
            from_tn=draft.from_tn,
            text=draft.text,
            media=draft.media,
            tag=draft.tag,
            priority=draft.priority,
            expiration=draft.expiration,
        )

    async def _commit_loop(self) -> None:
        assert self._queue is not None
        q = self._queue
        while True:
            first = await q.get()
            batch = [first]
            while len(batch) < self.batch_max and not q.empty():
                batch.append(q.get_nowait())
            await self._commit(batch)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.db.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.db.begin() as conn:
            yield conn

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            async with self._writing() as conn:
                refused = await self._write(conn, batch)
        except Exception as exc:
            if len(batch) > 1:  # find the culprit: one bad request must not sink the others
                log.warning("group commit of %d failed; retrying one by one", len(batch))
                for p in batch:
                    await self._commit([p])
                return
            log.exception("message commit failed")
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        self.stats["commits"] += 1
        for p in batch:
            if p.future.done():
                continue
            if p in refused:
                p.future.set_exception(QueueFull())
            else:
                self.stats["accepted"] += 1
                p.future.set_result(None)
        self._pump_wake.set()

    async def _write(self, conn: AsyncConnection, batch: list[_Pending]) -> set[_Pending]:
        at = now()
        limited = [p for p in batch if not p.limits.unlimited]
        slots: dict[str, datetime] = {}
        before: dict[str, datetime] = {}
        if limited:
            keys = set()
            for p in limited:
                keys.add(ratelimit.account_key(p.account_id))
                keys.add(ratelimit.number_key(p.from_tn))
            slots = await repo.load_slots(conn, keys, self.db.dialect, at)
            before = dict(slots)
        refused: set[_Pending] = set()
        msgs: list[dict[str, Any]] = []
        rcpts: list[dict[str, Any]] = []
        for p in batch:
            if not p.limits.unlimited:
                try:
                    times = ratelimit.schedule(
                        slots,
                        p.limits,
                        p.account_id,
                        p.from_tn,
                        p.segments,
                        len(p.recipient_rows),
                        at,
                    )
                except ratelimit.QueueFull:
                    refused.add(p)
                    continue
                for row, t in zip(p.recipient_rows, times, strict=True):
                    row["send_at"] = t
            msgs.append(p.message_row)
            rcpts.extend(p.recipient_rows)
        await repo.insert_messages(conn, msgs, rcpts)
        changed = {k: v for k, v in slots.items() if before.get(k) != v}
        await repo.save_slots(conn, changed, self.db.dialect)
        return refused

    # --- the send pump ---

    def wake(self) -> None:
        self._pump_wake.set()

    async def _pump_loop(self) -> None:
        next_sweep = 0.0
        while not self._stopping:
            n = 0
            try:
                n = await self.pump_once()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 60
                    await self.sweep_media()
            except Exception:
                log.exception("messaging pump error")
            if n >= self.send_batch:
                continue
            self._pump_wake.clear()
            timeout = self.settings.worker_poll_seconds
            if n == 0:
                with contextlib.suppress(Exception):
                    async with self.db.connect() as conn:
                        due = await repo.next_due(conn)
                    if due is not None:
                        timeout = max(0.0, min(timeout, (due - now()).total_seconds()))
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pump_wake.wait(), timeout=timeout)

    async def sweep_media(self) -> int:
        async with self.db.begin() as conn:
            return await media_repo.sweep(conn, now())

    async def pump_once(self) -> int:
        """Claim due recipients and hand them to the carrier; returns how many were claimed."""
        carrier = self.extras.get("carrier")
        if carrier is None:
            return 0  # no carrier wired yet: messages wait, queued
        at = now()
        lease_until = at + self.lease
        async with self._writing() as conn:
            due = await repo.claim_due(conn, at, self.send_batch, lease_until, self.db.is_postgres)
        if not due:
            return 0
        media_failures = await self._check_media(due, at)
        try:
            async with self.db.begin() as conn:
                await self._hand_over(
                    conn, carrier, due, lease_until, media_failures, isolate=False
                )
        except Exception:
            log.exception("send batch failed; retrying each recipient on its own")
            async with self.db.begin() as conn:
                await self._hand_over(conn, carrier, due, lease_until, media_failures, isolate=True)
        self.stats["sent"] += len(due)
        delivery = self.extras.get("delivery")
        if delivery is not None and hasattr(delivery, "wake"):
            delivery.wake()
        return len(due)

    async def _hand_over(
        self,
        conn: AsyncConnection,
        carrier: Any,
        due: list[repo.DueRecipient],
        lease_until: datetime,
        media_failures: dict[str, int],
        *,
        isolate: bool,
    ) -> None:
        ours = await repo.hand_over(conn, [(d.message_id, d.recipient) for d in due], lease_until)
        at = now()
        for d in due:
            if (d.message_id, d.recipient) not in ours:
                continue  # the lease ran out and another node took it
            self.sink.remember(
                repo.MessageRow(
                    d.message_id,
                    d.account_id,
                    d.application_id,
                    "out",
                    d.from_tn,
                    d.from_tn,
                    d.to_tns,
                    d.text,
                    d.media,
                    d.tag,
                    d.priority,
                    d.expiration,
                    d.segment_count,
                    d.message_type,
                    d.created_at,
                )
            )
            if d.expiration is not None and d.expiration <= at:
                await self._fail(conn, d, E_EXPIRED)
                continue
            code = media_failures.get(d.message_id)
            if code is not None:
                await self._fail(conn, d, code)
                continue
            msg = self._outbound(d)
            if not isolate:
                await carrier.submit(conn, msg, self.sink)
                continue
            try:
                async with conn.begin_nested():
                    await carrier.submit(conn, msg, self.sink)
            except Exception:
                log.exception("carrier refused message %s to %s", d.message_id, d.recipient)
                await self._fail(conn, d, E_UNKNOWN)

    async def _fail(self, conn: AsyncConnection, d: repo.DueRecipient, code: int) -> None:
        await self.sink.report(
            conn,
            StatusReport(
                message_id=d.message_id,
                recipient=d.recipient,
                status="failed",
                error_code=code,
                description=describe_error(code),
            ),
        )

    def _outbound(self, d: repo.DueRecipient) -> OutboundMessage:
        seg = segments.segment(d.text)
        parts = (d.text,) if d.message_type == "mms" else seg.parts
        return OutboundMessage(
            message_id=d.message_id,
            account_id=d.account_id,
            application_id=d.application_id,
            from_tn=d.from_tn,
            to=d.recipient,
            all_to=d.to_tns,
            text=d.text,
            media=d.media,
            parts=parts,
            segment_count=d.segment_count,
            encoding=seg.encoding,
            message_type=d.message_type,
            tag=d.tag,
            priority=d.priority,
            expiration=d.expiration,
        )

    async def _check_media(self, due: list[repo.DueRecipient], at: datetime) -> dict[str, int]:
        """Fetch each message's media once, outside any transaction; message id -> error code.

        Platform media is read from the media table (the sender's own); other URLs go through
        delivery's HTTP client and its SSRF policy. The content itself is not kept: carriers
        read platform media themselves and pass public URLs on.
        """
        todo: dict[str, repo.DueRecipient] = {}
        for d in due:
            if (
                d.media
                and d.message_id not in todo
                and not (d.expiration is not None and d.expiration <= at)
            ):
                todo[d.message_id] = d
        if not todo:
            return {}
        failures: dict[str, int] = {}

        async def check(d: repo.DueRecipient) -> None:
            for url in d.media:
                if not await self._media_ok(d.account_id, url, at):
                    failures[d.message_id] = E_MEDIA_UNAVAILABLE
                    return

        await asyncio.gather(*(check(d) for d in todo.values()))
        return failures

    async def _media_ok(self, account_id: str, url: str, at: datetime) -> bool:
        ref = self.sink.local_media_ref(url)
        if ref is not None:
            if ref[0] != account_id:
                return False
            async with self.db.connect() as conn:
                return await media_repo.get(conn, ref[0], ref[1], at) is not None
        http = self.extras.get("http")
        if http is None:
            return True  # no HTTP client wired: the carrier gets the URL as given
        from openband.delivery.http import MediaError

        try:
            await http.fetch_media(url, max_bytes=self.settings.media_max_bytes)  # type: ignore[attr-defined]
        except MediaError as exc:
            log.info("media unavailable: %s", exc)
            return False
        return True

    # --- reads ---

    async def list_messages(
        self, account_id: str, params: Mapping[str, str]
    ) -> tuple[int, list[dict[str, Any]], ListQuery]:
        q = parse_list_query(account_id, params)
        async with self.db.connect() as conn:
            total, rows = await repo.search(
                conn,
                q.filter,
                sort=q.sort,
                descending=q.descending,
                offset=q.offset,
                limit=q.limit,
                count_cap=q.count_cap,
            )
        return total, [list_item(r) for r in rows], q
