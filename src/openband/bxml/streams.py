"""Media out of the call: <StartStream> (with <StreamParam>), <StopStream>,
<StartTranscription> (with <CustomParam>), <StopTranscription>.

Sources: api-docs site/docs/voice/bxml/startStream.mdx, stopStream.mdx,
startTranscription.mdx, stopTranscription.mdx; python-sdk bandwidth/models/bxml/verbs/
start_stream.py, stream_param.py, stop_stream.py, start_transcription.py, custom_param.py,
stop_transcription.py. From the SDK alone (its wire wins): StartStream `mode`,
`destinationUsername`/`destinationPassword`; StopStream `wait`; StartTranscription
`detectLanguage` and `preferredLanguages` (23.3.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from openband.bxml._wire import METHOD_SPEC, Method, Node, flag, one_of, register, text, url

MAX_PARAMS: Final = 12  # StreamParam / CustomParam per verb
PARAM_NAME_MAX: Final = 256
PARAM_VALUE_MAX: Final = 2048

Tracks = Literal["inbound", "outbound", "both"]
StreamMode = Literal["unidirectional", "bidirectional"]
_TRACKS: Final = ("inbound", "outbound", "both")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Param(Node):
    name: str = text(required=True, max_len=PARAM_NAME_MAX)
    value: str = text(required=True, max_len=PARAM_VALUE_MAX)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StreamParam(_Param):
    """A name/value sent to the stream's destination in its `start` message."""

    TAG = "StreamParam"
    PARENTS = ("StartStream",)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CustomParam(_Param):
    """A name/value sent to the transcription's destination in its `start` message."""

    TAG = "CustomParam"
    PARENTS = ("StartTranscription",)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StartStream(Node):
    """Stream the call's audio (PCMU, base64) over a WebSocket to `destination`."""

    TAG = "StartStream"
    CHILDREN = "stream_params"
    ALLOWED = ("StreamParam",)

    name: str | None = text()
    tracks: Tracks = field(default="inbound", metadata=one_of(_TRACKS))
    destination: str = url(required=True)
    destination_username: str | None = text()
    destination_password: str | None = text()
    mode: StreamMode = field(
        default="unidirectional", metadata=one_of(("unidirectional", "bidirectional"))
    )
    stream_event_url: str | None = url()
    stream_event_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    stream_params: tuple[StreamParam, ...] = field(default=())

    def _check(self) -> None:
        if len(self.stream_params) > MAX_PARAMS:
            raise self._fail(f"may contain at most {MAX_PARAMS} StreamParam elements")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StopStream(Node):
    TAG = "StopStream"

    name: str = text(required=True)
    wait: bool = flag(False)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StartTranscription(Node):
    """Transcribe the call in real time; optionally stream the text to `destination`."""

    TAG = "StartTranscription"
    CHILDREN = "custom_params"
    ALLOWED = ("CustomParam",)

    name: str | None = text()
    tracks: Tracks = field(default="inbound", metadata=one_of(_TRACKS))
    transcription_event_url: str | None = url()
    transcription_event_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    destination: str | None = url()
    stabilized: bool = flag(True)
    detect_language: bool = flag(False)
    preferred_languages: str | None = text()  # comma-separated locales, e.g. "en-US,es-US"
    custom_params: tuple[CustomParam, ...] = field(default=())

    def _check(self) -> None:
        if len(self.custom_params) > MAX_PARAMS:
            raise self._fail(f"may contain at most {MAX_PARAMS} CustomParam elements")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StopTranscription(Node):
    """Stop the named transcription, or all of the call's when no name is given."""

    TAG = "StopTranscription"

    name: str | None = text()
