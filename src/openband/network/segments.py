"""SMS segmentation: GSM 03.38 (3GPP TS 23.038) 7-bit default alphabet, UCS-2 otherwise.

A text that uses only the default alphabet and its extension table is sent as GSM-7: a single
segment holds 160 septets, a part of a concatenated message 153 (the User Data Header takes 7).
Extension-table characters are sent as ESC + char and so count two septets. Any other character
switches the whole text to UCS-2: 70 UTF-16 code units single, 67 per part; characters outside
the BMP (most emoji) are a surrogate pair and count two.

Parts are cut so that an escape pair or a surrogate pair never straddles two parts, which is
what handsets and SMSCs do; that can make the count larger than ceil(units / per_part).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7: Encoding = "GSM-7"
UCS2: Encoding = "UCS-2"

# TS 23.038 §6.2.1, the default alphabet in code order (0x1B, the escape, is not a character).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"  # 0x00-0x1A
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"  # 0x1C-0x3F
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"  # 0x40-0x5F
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"  # 0x60-0x7F
)
# TS 23.038 §6.2.1.1, the extension table reached through ESC: each costs two septets.
GSM_EXTENSION = "\f^{}\\[~]|€"

_BASIC = frozenset(GSM_BASIC)
_EXT = frozenset(GSM_EXTENSION)
_GSM = _BASIC | _EXT

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class Segmentation:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text
    parts: tuple[str, ...]  # the text of each segment, in order; ("",) for an empty text

    @property
    def segment_count(self) -> int:
        return len(self.parts)


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM for ch in text)


def encoding_for(text: str) -> Encoding:
    return GSM7 if is_gsm7(text) else UCS2


def _cost(ch: str, encoding: Encoding) -> int:
    if encoding == GSM7:
        return 2 if ch in _EXT else 1
    return 2 if ord(ch) > 0xFFFF else 1


def unit_count(text: str, encoding: Encoding | None = None) -> int:
    enc = encoding or encoding_for(text)
    return sum(_cost(ch, enc) for ch in text)


def limits(encoding: Encoding) -> tuple[int, int]:
    """(single-segment capacity, per-part capacity) in units of `encoding`."""
    return (GSM7_SINGLE, GSM7_PART) if encoding == GSM7 else (UCS2_SINGLE, UCS2_PART)


def segment(text: str) -> Segmentation:
    enc = encoding_for(text)
    single, per_part = limits(enc)
    costs = [_cost(ch, enc) for ch in text]
    total = sum(costs)
    if total <= single:
        # Bandwidth bills an empty SMS as one segment.
        return Segmentation(enc, total, (text,))
    parts: list[str] = []
    start = used = 0
    for i, cost in enumerate(costs):
        if used + cost > per_part:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return Segmentation(enc, total, tuple(parts))


def segment_count(text: str) -> int:
    return segment(text).segment_count


def message_segment_count(text: str, *, mms: bool) -> int:
    """segmentCount as Bandwidth reports it: an MMS is one message whatever its text length."""
    return 1 if mms else segment_count(text)


def split(text: str) -> list[str]:
    return list(segment(text).parts)
