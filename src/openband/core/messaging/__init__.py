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

The package, one module per concern: validation (the create request and its rules), listing
(list/search), callbacks (targets and event bodies), codes (statuses, error codes), media, cache,
sink (MessagingSink: carrier reports and inbound) and engine (Messaging: accept, group commit,
send pump).
"""

from openband.core.messaging.cache import TtlCache
from openband.core.messaging.callbacks import (
    inbound_callback_target,
    message_body,
    status_callback_target,
)
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
    ListQuery,
    decode_page_token,
    encode_page_token,
    list_item,
    parse_list_query,
)
from openband.core.messaging.media import (
    MAX_MEDIA_ID,
    check_media_id,
    media_url,
    safe_media_name,
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
    check_sender,
    new_message_id,
    parse_request,
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
    "STATUSES",
    "Draft",
    "ListQuery",
    "Messaging",
    "MessagingSink",
    "QueueFull",
    "RequestInvalid",
    "TtlCache",
    "check_media_id",
    "check_sender",
    "decode_page_token",
    "describe_error",
    "encode_page_token",
    "inbound_callback_target",
    "list_item",
    "media_url",
    "message_body",
    "new_message_id",
    "parse_list_query",
    "parse_request",
    "safe_media_name",
    "segment_count",
    "segments_of",
    "status_callback_target",
]
