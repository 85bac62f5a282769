"""Messaging: the rules of accepting, sending and receiving messages (no HTTP, no wire format).

Follow one message:
- an API family turns its request into a SendRequest; `Messaging.accept` checks the rules
  (validation.py), the sending number's location and application (cached briefly: it is on
  every request), computes segments and hands the rows to the group committer;
- the committer writes many requests' messages in one transaction (rate-limit schedule included)
  and resolves each request after the commit: accepted means durable; the family renders the
  Message it gets back;
- the pump claims due recipients in batches (message_recipients.send_at, see store/messages.py),
  fetches external media, and hands each batch to the carrier inside a transaction;
- the carrier reports through MessagingSink, which records the transition and enqueues the
  callback (rendered by the family's CallbackFormat) in that same transaction.

The package, one module per concern: model (what goes in and out), validation (the create
request's rules), listing (the list query), codes (statuses),
media (ids, URLs, the media library), sink (MessagingSink: carrier reports, inbound, timers)
and engine (Messaging: accept, group commit, send pump).
"""

from openband.core.messaging.codes import (
    DIRECTIONS,
    E_EXPIRED,
    E_MEDIA_UNAVAILABLE,
    E_UNKNOWN,
    ERROR_DESCRIPTIONS,
    MESSAGE_TYPES,
    STATUSES,
    describe_error,
)
from openband.core.messaging.engine import Messaging
from openband.core.messaging.listing import (
    MAX_LIST_WINDOW,
    SORT_KEYS,
    ListedRecipient,
    ListQuery,
    MessageFilter,
)
from openband.core.messaging.media import (
    MAX_MEDIA_ID,
    MediaLibrary,
    check_media_id,
    media_url,
    safe_media_name,
)
from openband.core.messaging.model import (
    CallbackFormat,
    Field,
    Message,
    MessageEvent,
    SendRequest,
)
from openband.core.messaging.sink import MessagingSink
from openband.core.messaging.validation import (
    MAX_MEDIA,
    MAX_MEDIA_URL,
    MAX_RECIPIENTS,
    MAX_TAG,
    MAX_TEXT,
    PRIORITIES,
    Draft,
    QueueFull,
    RequestInvalid,
    check_request,
    check_sender,
    new_message_id,
    segment_count,
    segments_of,
)

__all__ = [
    "DIRECTIONS",
    "ERROR_DESCRIPTIONS",
    "E_EXPIRED",
    "E_MEDIA_UNAVAILABLE",
    "E_UNKNOWN",
    "MAX_LIST_WINDOW",
    "MAX_MEDIA",
    "MAX_MEDIA_ID",
    "MAX_MEDIA_URL",
    "MAX_RECIPIENTS",
    "MAX_TAG",
    "MAX_TEXT",
    "MESSAGE_TYPES",
    "PRIORITIES",
    "SORT_KEYS",
    "STATUSES",
    "CallbackFormat",
    "Draft",
    "Field",
    "ListQuery",
    "ListedRecipient",
    "MediaLibrary",
    "Message",
    "MessageEvent",
    "MessageFilter",
    "Messaging",
    "MessagingSink",
    "QueueFull",
    "RequestInvalid",
    "SendRequest",
    "check_media_id",
    "check_request",
    "check_sender",
    "describe_error",
    "media_url",
    "new_message_id",
    "safe_media_name",
    "segment_count",
    "segments_of",
]
