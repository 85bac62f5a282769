"""Recording: <Record>, <StartRecording>, <StopRecording>, <PauseRecording>, <ResumeRecording>.

Sources: api-docs site/docs/voice/bxml/record.mdx, startRecording.mdx, stopRecording.mdx,
pauseRecording.mdx, resumeRecording.mdx; python-sdk bandwidth/models/bxml/verbs/record.py,
start_recording.py, stop_recording.py, pause_recording.py, resume_recording.py.

The SDK's wire wins where it differs: `recordingName` (python-sdk 23.3.1) is modelled;
python-sdk through ba8d157 wrote `recordCompleteFallback_url` and `recordCompleteFallback_method`,
read as aliases. record.mdx gives no lower bound for maxDuration; 1 second is assumed.
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
    flag,
    method_spec,
    number,
    one_of,
    register,
    text,
    url,
)

MAX_RECORD_SECONDS: Final = 10800  # 3 hours (record.mdx)
_KEYS = re.compile(r"[0-9*#A-Da-d]*")

FileFormat = Literal["wav", "mp3"]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Record(Node):
    """Record until a terminating digit, silence or maxDuration; `recordComplete` webhook."""

    TAG = "Record"

    record_complete_url: str | None = url()
    record_complete_method: Method = field(default="POST", metadata=METHOD_SPEC)
    record_complete_fallback_url: str | None = url(aliases=("recordCompleteFallback_url",))
    record_complete_fallback_method: Method = field(
        default="POST", metadata=method_spec(aliases=("recordCompleteFallback_method",))
    )
    recording_available_url: str | None = url()
    recording_available_method: Method = field(default="POST", metadata=METHOD_SPEC)
    transcribe: bool = flag(False)
    detect_language: bool = flag(False)
    transcription_available_url: str | None = url()
    transcription_available_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)
    terminating_digits: str = text("#")
    max_duration: float = number(60, 1, MAX_RECORD_SECONDS)
    silence_timeout: float = number(0, 0, MAX_RECORD_SECONDS)
    file_format: FileFormat = field(default="wav", metadata=one_of(("wav", "mp3")))
    recording_name: str | None = text()

    def _check(self) -> None:
        if not _KEYS.fullmatch(self.terminating_digits):
            raise self._fail(
                "terminatingDigits may contain only 0-9, *, # and A-D", "terminatingDigits"
            )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StartRecording(Node):
    """Record the call (or conference) in the background until StopRecording or the end."""

    TAG = "StartRecording"

    recording_available_url: str | None = url()
    recording_available_method: Method = field(default="POST", metadata=METHOD_SPEC)
    transcribe: bool = flag(False)
    detect_language: bool = flag(False)
    transcription_available_url: str | None = url()
    transcription_available_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)
    file_format: FileFormat = field(default="wav", metadata=one_of(("wav", "mp3")))
    multi_channel: bool = flag(False)
    recording_name: str | None = text()


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StopRecording(Node):
    TAG = "StopRecording"


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PauseRecording(Node):
    TAG = "PauseRecording"


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeRecording(Node):
    TAG = "ResumeRecording"
