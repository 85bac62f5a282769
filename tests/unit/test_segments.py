from __future__ import annotations

import pytest

from openband.network.segments import (
    GSM_BASIC,
    GSM_EXTENSION,
    encoding_for,
    segment,
    segment_count,
    split,
    unit_count,
)

EMOJI = "😀"  # U+1F600: a surrogate pair in UTF-16


def test_alphabet_tables() -> None:
    assert len(GSM_BASIC) == 127 and len(set(GSM_BASIC)) == 127  # 128 codes minus ESC
    assert set(GSM_EXTENSION) == set("\f^{}\\[~]|€")
    assert not set(GSM_BASIC) & set(GSM_EXTENSION)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("", "GSM-7"),
        ("Hello World", "GSM-7"),
        ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡§¿äöñüà", "GSM-7"),
        ("€[]{}|~^\\\f", "GSM-7"),
        ("é è", "GSM-7"),
        ("ê", "UCS-2"),  # not in the default alphabet
        ("á", "UCS-2"),
        ("ç", "UCS-2"),  # only capital Ç is GSM
        ("`", "UCS-2"),
        ("hi " + EMOJI, "UCS-2"),
        ("Привет", "UCS-2"),
        ("\t", "UCS-2"),
    ],
)
def test_encoding(text: str, encoding: str) -> None:
    assert encoding_for(text) == encoding
    assert segment(text).encoding == encoding


def test_empty_text_is_one_segment() -> None:
    seg = segment("")
    assert seg.segment_count == 1 and seg.parts == ("",) and seg.units == 0


@pytest.mark.parametrize(
    ("n", "count"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_boundaries(n: int, count: int) -> None:
    text = "a" * n
    seg = segment(text)
    assert seg.segment_count == count == segment_count(text)
    assert "".join(seg.parts) == text
    if count > 1:
        assert all(len(p) == 153 for p in seg.parts[:-1])


@pytest.mark.parametrize(
    ("n", "count"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_boundaries(n: int, count: int) -> None:
    text = "ж" * n
    seg = segment(text)
    assert seg.encoding == "UCS-2" and seg.segment_count == count
    assert "".join(seg.parts) == text
    if count > 1:
        assert all(len(p) == 67 for p in seg.parts[:-1])


def test_extension_characters_count_double() -> None:
    assert unit_count("€") == 2 and unit_count("a€b") == 4
    assert segment_count("€" * 80) == 1  # 160 septets
    assert segment_count("€" * 80 + "a") == 2  # 161
    assert segment_count("a" * 159 + "€") == 2  # 161 septets though 160 characters
    assert segment_count("a" * 158 + "€") == 1  # exactly 160


def test_escape_pair_never_split() -> None:
    # 152 septets then '€' (2): the pair does not fit in part one (153), so it moves whole.
    text = "a" * 152 + "€" + "b" * 10
    parts = split(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert unit_count(parts[0]) == 152 and unit_count(parts[1]) == 12


def test_escape_pairs_can_add_a_segment() -> None:
    # 153*2 = 306 septets, but with pairs straddling both boundaries the greedy cut needs 3 parts.
    text = "a" * 152 + "€" + "a" * 150 + "€" + "a"
    assert unit_count(text) == 152 + 2 + 150 + 2 + 1 == 307
    parts = split(text)
    assert all(unit_count(p) <= 153 for p in parts)
    assert "".join(parts) == text and len(parts) == 3


def test_exact_two_full_parts_of_extension_chars() -> None:
    text = "a" + "€" * 76 + "a" + "€" * 76  # 153 + 153 = 306 septets
    parts = split(text)
    assert [unit_count(p) for p in parts] == [153, 153]


def test_emoji_counts_two_units() -> None:
    assert unit_count(EMOJI) == 2 and unit_count("a" + EMOJI) == 3
    assert segment_count(EMOJI * 35) == 1  # 70 units
    assert segment_count(EMOJI * 35 + "a") == 2  # 71
    assert segment_count("a" * 69 + EMOJI) == 2  # 71 units in 70 characters


def test_surrogate_pair_never_split() -> None:
    text = "a" * 66 + EMOJI + "b" * 5  # the pair would take units 67 and 68
    parts = split(text)
    assert parts == ["a" * 66, EMOJI + "b" * 5]


def test_emoji_only_multipart() -> None:
    text = EMOJI * 67  # 134 units; 67 per part holds 33 emoji (66 units)
    parts = split(text)
    assert [len(p) for p in parts] == [33, 33, 1]
    assert "".join(parts) == text


def test_one_non_gsm_char_switches_everything_to_ucs2() -> None:
    text = "a" * 100 + "ê"
    seg = segment(text)
    assert seg.encoding == "UCS-2" and seg.units == 101 and seg.segment_count == 2
    # In UCS-2, GSM extension characters are single units.
    assert unit_count("€ê") == 2


def test_bmp_characters_are_one_unit_even_if_wide() -> None:
    assert unit_count("中文") == 2 and segment_count("中" * 70) == 1


def test_long_text_roundtrip() -> None:
    text = ("Hello [world] ~ {x} " * 60)[:2048]
    parts = split(text)
    assert "".join(parts) == text
    assert all(unit_count(p, "GSM-7") <= 153 for p in parts)
