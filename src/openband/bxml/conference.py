"""<Conference>: join the call to a named conference.

Sources: api-docs site/docs/voice/bxml/conference.mdx; python-sdk
bandwidth/models/bxml/verbs/conference.py.

The name is the element's text in the docs and in python-sdk 23.3.1, but python-sdk through
ba8d157 wrote it as a `name="…"` attribute: both are read (the same name twice is fine, two
different names are refused), and it is written as text. The docs spell callbackTimeout
`calbackTimeout` once: read as an alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

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

NAME_MAX: Final = 100
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")

# conference.mdx: BXML answering a conference webhook may hold only these verbs.
CONFERENCE_VERB_TAGS: Final = (
    "PlayAudio",
    "SpeakSentence",
    "StartRecording",
    "StopRecording",
    "PauseRecording",
    "ResumeRecording",
)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Conference(Node):
    TAG = "Conference"
    TEXT = "name"
    TEXT_ATTRIBUTE = "name"

    name: str = field(kw_only=False)
    mute: bool = flag(False)
    hold: bool = flag(False)
    call_ids_to_coach: str | None = text()  # comma-separated call ids
    conference_event_url: str | None = url()
    conference_event_method: Method = field(default="POST", metadata=METHOD_SPEC)
    conference_event_fallback_url: str | None = url()
    conference_event_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)
    callback_timeout: float | None = number(None, 1, 25, aliases=("calbackTimeout",))

    def _check(self) -> None:
        if not self.name:
            raise self._fail("the conference name must not be blank", "name")
        if len(self.name) > NAME_MAX or not _NAME.fullmatch(self.name):
            raise self._fail(
                f"the conference name must be at most {NAME_MAX} characters of letters, digits, "
                "'-', '_' and '.'",
                "name",
            )

    @property
    def coached_call_ids(self) -> tuple[str, ...]:
        """callIdsToCoach as a tuple of call ids."""
        raw = self.call_ids_to_coach or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())
