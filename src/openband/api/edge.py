"""What happens before (or instead of) a route: which API family a path belongs to, the answers
for paths and methods no route takes, and the refusal of control characters in a path or query.

Every answer is in the shape of the family whose prefix the path has, so a client never sees a
framework's own body (`{"detail": "Not Found"}`) or a 500 from a NUL that PostgreSQL refuses.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse, Response

from openband.api.dashboard.xml import XML_MEDIA_TYPE, error_document
from openband.api.messaging_v2 import routes as messaging
from openband.api.voice_v2 import routes as voice

Family = Literal["dashboard", "messaging", "voice", "sim", "openband"]

SIM_PREFIX = "/sim/v1"
DASHBOARD_PREFIXES = ("/api", "/api/v1", "/v1.0")
_MESSAGING = re.compile(r"^(?:/api/v2)?/users(?:/|$)")
_VOICE = re.compile(
    r"^(?:/api/v2)?/accounts/[^/]+/(?:calls|recordings|conferences|statistics)(?:/|$)"
)
# C0 controls and DEL: never part of an id, number, date or name a path or query carries.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(b"[\x00-\x1f\x7f]")

_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def family(path: str) -> Family:
    if path == SIM_PREFIX or path.startswith(SIM_PREFIX + "/"):
        return "sim"
    if _VOICE.match(path):
        return "voice"
    if _MESSAGING.match(path) or path.startswith("/api/v2/") or path == "/api/v2":
        return "messaging"
    if any(path == p or path.startswith(p + "/") for p in DASHBOARD_PREFIXES):
        return "dashboard"
    return "openband"


def error(path: str, status: int, description: str | None = None) -> Response:
    """A refusal of a request to `path`, in its family's shape."""
    text = description or _REASONS.get(status, "Error")
    kind = family(path)
    if kind == "messaging":
        if status == 404:
            return messaging.not_found(path)
        type_ = "request-validation" if status == 400 else "messagingRequestError"
        return messaging.error_response(status, type_, text)
    if kind == "voice":
        return voice.error_response(status, text)
    if kind == "dashboard":
        body = error_document("ErrorResponse", "status", None, text)
        return Response(body, status_code=status, media_type=XML_MEDIA_TYPE)
    # /sim/v1 and OpenBand's own endpoints: {"type", "description"}.
    types = {400: "request-validation", 404: "not-found", 405: "method-not-allowed"}
    return JSONResponse({"type": types.get(status, "error"), "description": text}, status)


def control_character(path: str, query_string: bytes) -> str | None:
    """Where a control character is in the path or a query value (decoded), or None."""
    if _CONTROL.search(path):
        return "path"
    if query_string and (
        _CONTROL_BYTES.search(query_string)
        or _CONTROL_BYTES.search(unquote_to_bytes(query_string.replace(b"+", b" ")))
    ):
        return "query"
    return None
