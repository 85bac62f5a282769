"""Digits in and out: <Gather>, <StartGather>, <StopGather>, <SendDtmf>.

Sources: api-docs site/docs/voice/bxml/gather.mdx, startGather.mdx, stopGather.mdx,
sendDtmf.mdx; python-sdk bandwidth/models/bxml/verbs/gather.py, start_gather.py, stop_gather.py,
send_dtmf.py. Gather's speech attributes (input, hints, language, partialResultCallback...,
profanityFilter, speechModel, speechTimeout) come from python-sdk 23.3.1 alone: the SDK's wire
wins, so they parse and render, with the defaults its docstrings give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from openband.bxml._wire import (
    METHOD_SPEC,
    TAG_MAX,
    Method,
    Node,
    count,
    flag,
    number,
    one_of,
    register,
    text,
    url,
)
from openband.bxml.speech import PlayAudio, SpeakSentence

# repeatCount × nested verbs (gather.mdx).
MAX_GATHER_PROMPTS: Final = 20
MAX_DTMF_DIGITS: Final = 50

_KEYS = re.compile(r"[0-9*#A-Da-d]*")
# sendDtmf.mdx: 0-9 * # a-d A-D, and pauses: ',' and 'w' half a second, 'W' one second.
_DTMF = re.compile(r"[0-9*#A-Da-d,wW]*")

GatherInput = Literal["dtmf", "speech", "dtmf_speech"]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Gather(Node):
    """Collect digits while the nested prompts play; `gather` webhook to gatherUrl."""

    TAG = "Gather"
    CHILDREN = "prompts"
    ALLOWED = ("SpeakSentence", "PlayAudio")

    gather_url: str | None = url()
    gather_method: Method = field(default="POST", metadata=METHOD_SPEC)
    gather_fallback_url: str | None = url()
    gather_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)
    terminating_digits: str = text("")
    max_digits: int = count(50, 1, 50)
    inter_digit_timeout: float = number(5, 1, 60)
    first_digit_timeout: float = number(5, 0, 60)
    repeat_count: int = count(1, 1)
    input: GatherInput = field(default="dtmf", metadata=one_of(("dtmf", "speech", "dtmf_speech")))
    hints: str | None = text()
    language: str | None = text()
    partial_result_callback: str | None = url()
    partial_result_callback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    profanity_filter: bool = flag(True)
    speech_model: str | None = text()
    speech_timeout: float = number(5, 0)
    prompts: tuple[SpeakSentence | PlayAudio, ...] = field(default=())

    def _check(self) -> None:
        if not _KEYS.fullmatch(self.terminating_digits):
            raise self._fail(
                "terminatingDigits may contain only 0-9, *, # and A-D", "terminatingDigits"
            )
        played = self.repeat_count * len(self.prompts)
        if played > MAX_GATHER_PROMPTS:
            raise self._fail(
                f"repeatCount ({self.repeat_count}) times the number of nested verbs "
                f"({len(self.prompts)}) must not be greater than {MAX_GATHER_PROMPTS}",
                "repeatCount",
            )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StartGather(Node):
    """Report each digit to dtmfUrl (no BXML back) while other verbs run."""

    TAG = "StartGather"

    dtmf_url: str = url(required=True)
    dtmf_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StopGather(Node):
    TAG = "StopGather"


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class SendDtmf(Node):
    """Play DTMF tones; toneDuration and toneInterval in milliseconds."""

    TAG = "SendDtmf"
    TEXT = "digits"

    digits: str = field(kw_only=False)
    tone_duration: float = number(200, 50, 5000)
    tone_interval: float = number(400, 50, 5000)

    def _check(self) -> None:
        if not self.digits:
            raise self._fail("digits must not be blank")
        if len(self.digits) > MAX_DTMF_DIGITS:
            raise self._fail(f"digits must be at most {MAX_DTMF_DIGITS} characters")
        if not _DTMF.fullmatch(self.digits):
            raise self._fail("digits may contain only 0-9, *, #, A-D and the pauses w, W and ','")
