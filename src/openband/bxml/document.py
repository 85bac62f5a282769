"""BXML documents: `<Response>` (the answer to a webhook) and `<Bxml>` (PUT …/calls/{id}/bxml
and …/conferences/{id}/bxml), each a sequence of verbs.

Sources: api-docs site/docs/voice/bxml/about.mdx (64 KB at most; invalid BXML fails the call);
python-sdk bandwidth/models/bxml/response.py, bxml.py, root.py; python-bandwidth (bandwidth_sdk
3.1.0) bandwidth/voice/bxml.py, whose builder wraps the document as `<xml><Response>…</Response>
</xml>`: that wrapper is accepted around either root.

Parsing refuses, with a BxmlError, documents over 64 KB (before parsing), DTDs and entities
(xmlsafe), a wrong root, unknown or misplaced verbs and invalid attributes. Text is trimmed; an
empty `<Response/>` is a valid document (hangup.mdx: it is equivalent to `<Hangup/>`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from lxml import etree

from openband import xmlsafe
from openband.bxml._wire import (
    REGISTRY,
    ROOTS,
    Node,
    local_name,
    misplaced,
    no_text,
    parse_children,
)
from openband.bxml.conference import CONFERENCE_VERB_TAGS, Conference
from openband.bxml.control import Hangup, Pause, Redirect, Ring, Tag
from openband.bxml.errors import BxmlError
from openband.bxml.gather import Gather, SendDtmf, StartGather, StopGather
from openband.bxml.recording import (
    PauseRecording,
    Record,
    ResumeRecording,
    StartRecording,
    StopRecording,
)
from openband.bxml.speech import PlayAudio, SpeakSentence
from openband.bxml.streams import StartStream, StartTranscription, StopStream, StopTranscription
from openband.bxml.transfer import Bridge, Connect, Forward, Refer, Transfer

MAX_DOCUMENT_BYTES: Final = 65536

Root = Literal["Response", "Bxml"]

# What may stand directly in a document.
Verb = (
    SpeakSentence
    | PlayAudio
    | Gather
    | StartGather
    | StopGather
    | SendDtmf
    | Hangup
    | Redirect
    | Pause
    | Ring
    | Tag
    | Forward
    | Transfer
    | Bridge
    | Refer
    | Connect
    | Conference
    | Record
    | StartRecording
    | StopRecording
    | PauseRecording
    | ResumeRecording
    | StartStream
    | StopStream
    | StartTranscription
    | StopTranscription
)

# Tag -> class of every verb that may stand in a document (children like PhoneNumber are not).
VERBS: Final[dict[str, type[Node]]] = {t: c for t, c in REGISTRY.items() if not c.PARENTS}
CONFERENCE_VERBS: Final = tuple(VERBS[t] for t in CONFERENCE_VERB_TAGS)
# The wrapper python-bandwidth 3.x puts around the root.
_LEGACY_WRAPPER: Final = "xml"


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed (or built) BXML document: its root's name and its verbs, in order."""

    root: Root = "Response"
    verbs: tuple[Verb, ...] = ()

    def __post_init__(self) -> None:
        if self.root not in ROOTS:
            raise BxmlError(f"The root element must be <Response> or <Bxml>, not <{self.root}>")
        verbs = self.verbs
        if not isinstance(verbs, tuple):
            verbs = tuple(verbs)
            object.__setattr__(self, "verbs", verbs)
        for verb in verbs:
            tag = verb.TAG if isinstance(verb, Node) else type(verb).__name__
            if VERBS.get(tag) is not type(verb):
                raise misplaced(tag, self.root, VERBS)

    @classmethod
    def parse(
        cls, data: bytes | str, *, root: Root | None = None, strict: bool = False
    ) -> Document:
        """Same as `parse_document`."""
        return parse_document(data, root=root, strict=strict)

    def to_element(self) -> etree._Element:
        el = etree.Element(self.root)
        for verb in self.verbs:
            el.append(verb.to_element())
        return el

    def render(self) -> str:
        """The document as text, with xmlsafe's declaration (`<?xml version='1.0' …?>`)."""
        return xmlsafe.serialize(self.to_element()).decode("utf-8")

    def __bytes__(self) -> bytes:
        return xmlsafe.serialize(self.to_element())

    def check_conference(self) -> None:
        """Refuse verbs a conference cannot run (conference.mdx: BXML answering a conference
        webhook, or PUT …/conferences/{id}/bxml, may hold only CONFERENCE_VERBS)."""
        for verb in self.verbs:
            if not isinstance(verb, CONFERENCE_VERBS):
                allowed = ", ".join(CONFERENCE_VERB_TAGS[:-1]) + " and " + CONFERENCE_VERB_TAGS[-1]
                raise BxmlError(
                    f"Conference BXML may contain only {allowed}, not {verb.TAG}", verb=verb.TAG
                )


def parse_document(
    data: bytes | str, *, root: Root | None = None, strict: bool = False
) -> Document:
    """The document in `data`; `root` requires that root element (None: either).

    `strict` also refuses attributes the model does not know (by default they are ignored).
    Raises BxmlError with a message fit for a call's errorMessage."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    if len(body) > MAX_DOCUMENT_BYTES:
        raise BxmlError(f"Document is larger than {MAX_DOCUMENT_BYTES} bytes")
    # Templates often leave a newline before the declaration, which XML forbids.
    body = body.lstrip()
    if not body:
        raise BxmlError("Document is empty")
    try:
        element = xmlsafe.parse(body)
    except xmlsafe.XmlError as exc:
        raise BxmlError(str(exc)) from exc
    name = local_name(element.tag)
    if name == _LEGACY_WRAPPER:
        inner = [child for child in element if isinstance(child.tag, str)]
        no_text(name, element.text)
        if len(inner) == 1 and local_name(inner[0].tag) in ROOTS:
            no_text(name, inner[0].tail)
            element = inner[0]
            name = local_name(element.tag)
    if name not in ROOTS:
        raise BxmlError(f"The root element must be <Response> or <Bxml>, not <{name}>")
    if root is not None and name != root:
        raise BxmlError(f"The root element must be <{root}>, not <{name}>")
    verbs = parse_children(name, VERBS, element, strict)
    return Document(name, verbs)  # type: ignore[arg-type]


def render_verbs(verbs: Iterable[Verb], *, root: Root = "Response") -> str:
    """`verbs` as a whole document under `root`, declaration included."""
    return Document(root, tuple(verbs)).render()
