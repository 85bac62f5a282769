"""The BXML model: one frozen dataclass per verb (and per nested element) that parses, validates
and renders itself, after the aiortc pattern (docs/architecture.md). The call interpreter runs
these objects; OpenBand's client builds documents from the very same classes.

    doc = parse_document(body)            # bytes | str -> Document(root, verbs); BxmlError
    for verb in doc.verbs:
        match verb:
            case Pause(duration=seconds): ...
    render_verbs([SpeakSentence("Hi"), Hangup()])   # -> "<?xml …?>\\n<Response>…"

Sources: Bandwidth api-docs site/docs/voice/bxml/*.mdx (attributes, defaults, ranges) and the
official SDKs' BXML builders (python-sdk bandwidth/models/bxml/verbs/*.py, 23.3.1 and earlier;
python-bandwidth 3.1.0). Where they differ, what the SDKs put on the wire wins; each module's
docstring says where. Leaf package: imports only the standard library, lxml and
openband.xmlsafe.
"""

from openband.bxml._wire import Method, format_number
from openband.bxml.conference import CONFERENCE_VERB_TAGS, Conference
from openband.bxml.control import Hangup, Pause, Redirect, Ring, Tag
from openband.bxml.document import (
    CONFERENCE_VERBS,
    MAX_DOCUMENT_BYTES,
    VERBS,
    Document,
    Root,
    Verb,
    parse_document,
    render_verbs,
)
from openband.bxml.errors import BxmlError
from openband.bxml.gather import Gather, GatherInput, SendDtmf, StartGather, StopGather
from openband.bxml.recording import (
    FileFormat,
    PauseRecording,
    Record,
    ResumeRecording,
    StartRecording,
    StopRecording,
)
from openband.bxml.speech import LOCALES, VOICES, Gender, PlayAudio, SpeakSentence, Voice
from openband.bxml.streams import (
    CustomParam,
    StartStream,
    StartTranscription,
    StopStream,
    StopTranscription,
    StreamMode,
    StreamParam,
    Tracks,
)
from openband.bxml.transfer import (
    Bridge,
    Connect,
    DiversionReason,
    DiversionTreatment,
    Endpoint,
    Forward,
    PhoneNumber,
    Refer,
    SipUri,
    Transfer,
)

__all__ = [
    "CONFERENCE_VERBS",
    "CONFERENCE_VERB_TAGS",
    "LOCALES",
    "MAX_DOCUMENT_BYTES",
    "VERBS",
    "VOICES",
    "Bridge",
    "BxmlError",
    "Conference",
    "Connect",
    "CustomParam",
    "DiversionReason",
    "DiversionTreatment",
    "Document",
    "Endpoint",
    "FileFormat",
    "Forward",
    "Gather",
    "GatherInput",
    "Gender",
    "Hangup",
    "Method",
    "Pause",
    "PauseRecording",
    "PhoneNumber",
    "PlayAudio",
    "Record",
    "Redirect",
    "Refer",
    "ResumeRecording",
    "Ring",
    "Root",
    "SendDtmf",
    "SipUri",
    "SpeakSentence",
    "StartGather",
    "StartRecording",
    "StartStream",
    "StartTranscription",
    "StopGather",
    "StopRecording",
    "StopStream",
    "StopTranscription",
    "StreamMode",
    "StreamParam",
    "Tag",
    "Tracks",
    "Transfer",
    "Verb",
    "Voice",
    "format_number",
    "parse_document",
    "render_verbs",
]
