"""<SpeakSentence> and <PlayAudio>: what the caller hears (top level or inside <Gather>).

Sources: api-docs site/docs/voice/bxml/speakSentence.mdx (voices, locales, SSML tags) and
playAudio.mdx; python-sdk bandwidth/models/bxml/verbs/speak_sentence.py and play_audio.py.

SpeakSentence's `sentence` is the element's inner content as XML markup: plain words, SSML
elements (`Hello <say-as interpret-as="telephone">2025551212</say-as>`) and character
references (`Tom &amp; Jerry`), normalised as lxml writes them. The SDKs write SSML this way (they
unescape `&lt;tag&gt;` back into markup after serialising), TTS engines that speak SSML take it as
is, and `plain_text` is what a transcript shows. SSML element names are not checked (the TTS
engine judges them); BXML verbs inside a sentence are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from lxml import etree

from openband import xmlsafe
from openband.bxml._wire import (
    REGISTRY,
    ROOTS,
    Node,
    local_name,
    one_of,
    register,
    text,
)
from openband.bxml.errors import BxmlError

Voice = Literal[
    "julie", "kate", "susan", "dave", "paul", "bridget", "simon", "katrin", "stefan",
    "esperanza", "violeta", "jorge", "rosa", "jolie", "bernard", "paola", "luca", "masako",
    "kenji", "nadiya", "anatoli", "zeina", "zhiyu", "ruth", "stephen", "lupe", "pedro",
    "gabrielle", "liam",
]  # fmt: skip
Gender = Literal["male", "female"]

# speakSentence.mdx "Supported Voices": voice -> (locale, gender).
VOICES: Final[dict[str, tuple[str, Gender]]] = {
    "julie": ("en_US", "female"),
    "kate": ("en_US", "female"),
    "susan": ("en_US", "female"),
    "dave": ("en_US", "male"),
    "paul": ("en_US", "male"),
    "bridget": ("en_UK", "female"),
    "simon": ("en_UK", "male"),
    "katrin": ("de", "female"),
    "stefan": ("de", "male"),
    "esperanza": ("es", "female"),
    "violeta": ("es", "female"),
    "jorge": ("es", "male"),
    "rosa": ("es_MX", "female"),
    "jolie": ("fr", "female"),
    "bernard": ("fr", "male"),
    "paola": ("it", "female"),
    "luca": ("it", "male"),
    "masako": ("ja", "female"),
    "kenji": ("ja", "male"),
    "nadiya": ("ru", "female"),
    "anatoli": ("ru", "male"),
    "zeina": ("arb", "female"),
    "zhiyu": ("cmn-CN", "female"),
    "ruth": ("en_US", "female"),
    "stephen": ("en_US", "male"),
    "lupe": ("es_US", "female"),
    "pedro": ("es_US", "male"),
    "gabrielle": ("fr_CA", "female"),
    "liam": ("fr_CA", "male"),
}
LOCALES: Final = tuple(dict.fromkeys(locale for locale, _ in VOICES.values()))


def _fragment(markup: str) -> etree._Element:
    """`markup` parsed inside a wrapper element, with the hardened parser."""
    try:
        return xmlsafe.parse(b"<s>" + markup.encode("utf-8") + b"</s>")
    except xmlsafe.XmlError as exc:
        raise BxmlError(
            f"SpeakSentence: the sentence is not well-formed SSML ({exc})", verb="SpeakSentence"
        ) from exc


def _inner(element: etree._Element) -> str:
    """An element's content as markup: its text (escaped) and its children with their tails."""
    parts = [xmlsafe.escape(element.text)] if element.text else []
    for child in element:
        if isinstance(child.tag, str):
            name = local_name(child.tag)
            if name in REGISTRY or name in ROOTS:
                raise BxmlError(f"SpeakSentence may not contain {name}", verb="SpeakSentence")
        parts.append(etree.tostring(child, encoding="unicode", with_tail=True))
    return "".join(parts).strip()


def _has_markup(value: str) -> bool:
    return "<" in value or "&" in value


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakSentence(Node):
    """Text to speech. If `voice` is set, `gender` and `locale` are ignored (speakSentence.mdx)."""

    TAG = "SpeakSentence"
    TEXT = "sentence"

    sentence: str = field(kw_only=False)  # markup, see the module docstring
    voice: Voice | None = field(default=None, metadata=one_of(tuple(VOICES)))
    gender: Gender = field(default="female", metadata=one_of(("male", "female")))
    locale: str = field(default="en_US", metadata=one_of(LOCALES))

    @classmethod
    def _read_content(cls, element: etree._Element, kwargs: dict[str, Any], strict: bool) -> None:
        kwargs["sentence"] = _inner(element)

    def _check(self) -> None:
        if not self.sentence:
            raise self._fail("the sentence must not be blank")
        if _has_markup(self.sentence):
            # Well-formed, and written as a parse would give it back, so round trips are equal.
            canonical = _inner(_fragment(self.sentence))
            if canonical != self.sentence:
                object.__setattr__(self, "sentence", canonical)

    def _write_content(self, el: etree._Element) -> None:
        if not _has_markup(self.sentence):
            el.text = xmlsafe.clean(self.sentence)
            return
        fragment = _fragment(self.sentence)
        el.text = fragment.text
        for child in list(fragment):
            el.append(child)  # moves it, tail included

    @property
    def has_ssml(self) -> bool:
        """Whether the sentence holds SSML elements (not just words and character references)."""
        return "<" in self.sentence

    @property
    def plain_text(self) -> str:
        """The words alone: SSML elements dropped (their text kept), references resolved."""
        if not _has_markup(self.sentence):
            return self.sentence
        return " ".join("".join(_fragment(self.sentence).itertext()).split())

    @classmethod
    def from_text(cls, words: str, **attributes: Any) -> SpeakSentence:
        """A sentence of plain words, escaped (`&` and `<` are spoken, not markup)."""
        return cls(xmlsafe.escape(words), **attributes)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PlayAudio(Node):
    """An audio file (wav or mp3) by URL, which may be relative (playAudio.mdx)."""

    TAG = "PlayAudio"
    TEXT = "url"

    url: str = field(kw_only=False)
    username: str | None = text()
    password: str | None = text()

    def _check(self) -> None:
        if not self.url:
            raise self._fail("the audio URL must not be blank")
