"""The flow of a call: <Hangup>, <Redirect>, <Pause>, <Ring>, <Tag>.

Sources: api-docs site/docs/voice/bxml/hangup.mdx, redirect.mdx, pause.mdx, ring.mdx, tag.mdx;
python-sdk bandwidth/models/bxml/verbs/hangup.py, redirect.py, pause.py, ring.py, tag.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openband.bxml._wire import (
    METHOD_SPEC,
    TAG_MAX,
    Method,
    Node,
    flag,
    number,
    register,
    text,
    url,
)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(Node):
    """Hang up, or reject an unanswered inbound call (an empty document does the same)."""

    TAG = "Hangup"


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect(Node):
    """Fetch new BXML from redirectUrl (`redirect` webhook) and run it instead."""

    TAG = "Redirect"

    redirect_url: str = url(required=True)
    redirect_method: Method = field(default="POST", metadata=METHOD_SPEC)
    redirect_fallback_url: str | None = url()
    redirect_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Pause(Node):
    """Silence for `duration` seconds."""

    TAG = "Pause"

    duration: float = number(1, 0.1, 86400)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Ring(Node):
    """Ringing for `duration` seconds; answers an unanswered inbound call unless answerCall is
    false."""

    TAG = "Ring"

    duration: float = number(5, 0.1, 86400)
    answer_call: bool = flag(True)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Tag(Node):
    """Set the tag sent with later webhooks; blank clears it (tag.mdx: the text is trimmed)."""

    TAG = "Tag"
    TEXT = "value"

    value: str = field(default="", kw_only=False)

    def _check(self) -> None:
        if len(self.value) > TAG_MAX:
            raise self._fail(f"the tag must be at most {TAG_MAX} characters")
