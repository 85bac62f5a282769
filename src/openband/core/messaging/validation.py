"""The create request: parsing and its rules (reference §1.2), the sending number's checks,
segment counts and new message ids."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from openband.clock import parse_iso
from openband.core import segments
from openband.core.phone import to_e164
from openband.errors import InvalidInput, TooMany
from openband.store import messages as repo

MAX_RECIPIENTS = 10
MAX_TEXT = 2048
MAX_MEDIA = 10
MAX_MEDIA_URL = 4096
MAX_TAG = 1024
PRIORITIES = ("default", "high")


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


# Message ids must be unique, not secret (access needs the account's credentials): a PRNG seeded
# from os.urandom, without a syscall per message.
_rand = random.Random()


def new_message_id() -> str:
    """ids.message_id's shape (epoch millis + 17 base-36 chars) from 88 random bits."""
    n = _rand.getrandbits(88)
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
    # Same rule as segments.message_segment_count, reusing the segmentation already computed.
    return 1 if draft.message_type == "mms" else seg.segment_count
