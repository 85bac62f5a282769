"""The create request: its rules (reference §1.2), the sending number's checks,
segment counts and new message ids."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from openband.clock import parse_iso
from openband.core.messaging.model import Field, SendRequest
from openband.core.phone import to_e164
from openband.errors import InvalidInput, TooMany
from openband.network import segments
from openband.network.messaging import CONTROL_IN_TEXT, MAX_TEXT
from openband.store import messages as repo

MAX_RECIPIENTS = 10
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

    application_id: str | None
    to: tuple[str, ...]
    sender: str
    text: str
    media: tuple[str, ...]
    tag: str | None
    priority: str
    expiration: datetime | None

    @property
    def message_type(self) -> str:
        return "mms" if self.media or len(self.to) > 1 else "sms"


_NANP_E164 = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$", re.ASCII)


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


def check_request(req: SendRequest, at: datetime, errors: Sequence[tuple[str, str]] = ()) -> Draft:
    """The create request's rules (reference §1.2). `errors` are those the family found in the
    wire's types; a field that has one is not checked again. Every error is collected, then
    raised together (RequestInvalid)."""
    errs = list(errors)
    bad = {f for f, _ in errs}

    to: list[str] = []
    if Field.TO not in bad:
        if not req.to:
            errs.append((Field.TO, "to must contain at least one telephone number"))
        elif len(req.to) > MAX_RECIPIENTS:
            errs.append((Field.TO, f"to may contain at most {MAX_RECIPIENTS} telephone numbers"))
        else:
            for item in req.to:
                try:
                    tn = _e164(item, Field.TO)
                except InvalidInput as exc:
                    errs.append((Field.TO, exc.description))
                    continue
                if tn in to:
                    errs.append((Field.TO, f"'{item}' is given more than once"))
                to.append(tn)

    sender = ""
    if Field.FROM not in bad:
        if not req.sender:
            errs.append((Field.FROM, "from is required"))
        else:
            try:
                sender = _e164(req.sender, Field.FROM)
            except InvalidInput as exc:
                errs.append((Field.FROM, exc.description))

    text = req.text
    if Field.TEXT not in bad:
        if len(text) > MAX_TEXT:
            errs.append((Field.TEXT, f"text must be {MAX_TEXT} characters or less"))
        elif CONTROL_IN_TEXT.search(text):
            errs.append((Field.TEXT, "text must not contain control characters"))

    media: list[str] = []
    if Field.MEDIA not in bad:
        if len(req.media) > MAX_MEDIA:
            errs.append((Field.MEDIA, f"media may contain at most {MAX_MEDIA} URLs"))
        else:
            for url in req.media:
                if url in media:
                    continue  # a URL given twice is sent once (the media list is a set)
                if not _is_http_url(url) or CONTROL_IN_TEXT.search(url) or "\t" in url:
                    errs.append((Field.MEDIA, f"'{url}' is not a valid http(s) URL"))
                elif len(url) > MAX_MEDIA_URL:
                    errs.append(
                        (Field.MEDIA, f"media URLs must be {MAX_MEDIA_URL} characters or less")
                    )
                else:
                    media.append(url)
    if not text and not media and not any(f in (Field.TEXT, Field.MEDIA) for f, _ in errs):
        errs.append((Field.TEXT, "text or media is required"))

    if req.tag is not None and len(req.tag) > MAX_TAG:
        errs.append((Field.TAG, f"tag must be {MAX_TAG} characters or less"))
    elif req.tag is not None and CONTROL_IN_TEXT.search(req.tag):
        errs.append((Field.TAG, "tag must not contain control characters"))

    priority = req.priority or "default"
    if Field.PRIORITY not in bad and priority not in PRIORITIES:
        errs.append((Field.PRIORITY, "priority must be one of 'default', 'high'"))

    expiration: datetime | None = None
    if req.expiration is not None and Field.EXPIRATION not in bad:
        try:
            if "T" not in req.expiration.upper():
                raise ValueError
            expiration = parse_iso(req.expiration)
        except ValueError:
            errs.append((Field.EXPIRATION, "expiration must be an RFC-3339 date-time"))
        else:
            if expiration <= at:
                errs.append((Field.EXPIRATION, "expiration must be in the future"))

    if errs:
        raise RequestInvalid(errs)
    return Draft(
        application_id=req.application_id,
        to=tuple(to),
        sender=sender,
        text=text,
        media=tuple(media),
        tag=req.tag,
        priority=priority,
        expiration=expiration,
    )


def check_sender(draft: Draft, sender: repo.SenderRow | None, account_id: str) -> None:
    """The `from` number must be this account's, on a location whose messaging products and
    application fit the message."""
    if sender is None:
        raise RequestInvalid(
            [
                (
                    Field.FROM,
                    f"'{draft.sender}' is not a telephone number in service on account "
                    f"{account_id}",
                )
            ]
        )
    if sender.peer_id is None or not sender.sms:
        raise RequestInvalid(
            [(Field.FROM, f"SMS is not enabled on the location of '{draft.sender}'")]
        )
    if draft.message_type == "mms" and not sender.mms:
        why = "group messages" if len(draft.to) > 1 else "media"
        raise RequestInvalid(
            [(Field.FROM, f"MMS ({why}) is not enabled on the location of '{draft.sender}'")]
        )
    if sender.app_id != draft.application_id:
        raise RequestInvalid(
            [
                (
                    Field.APPLICATION,
                    f"Application '{draft.application_id}' is not the messaging application of "
                    f"the location of '{draft.sender}'",
                )
            ]
        )


def segments_of(draft: Draft) -> segments.Segmentation:
    return segments.segment(draft.text)


def segment_count(draft: Draft, seg: segments.Segmentation) -> int:
    # Same rule as segments.message_segment_count, reusing the segmentation already computed.
    return 1 if draft.message_type == "mms" else seg.segment_count
