"""speech: real espeak-ng output, Bandwidth's voices, SSML, hostile text, cache, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from openband.audio.pcm import Audio
from openband.audio.speech import (
    VOICES,
    InvalidSpeech,
    Speech,
    SpeechError,
    SpeechUnavailable,
    prepare,
    resolve_voice,
)
from tests.unit.audio.conftest import rms, run, samples

T = TypeVar("T")

# AD site/docs/voice/bxml/speakSentence.mdx, "Supported Voices": voice -> (locale, gender)
BANDWIDTH_VOICES = {
    "julie": ("en_US", "female"), "kate": ("en_US", "female"), "susan": ("en_US", "female"),
    "dave": ("en_US", "male"), "paul": ("en_US", "male"), "bridget": ("en_UK", "female"),
    "simon": ("en_UK", "male"), "katrin": ("de", "female"), "stefan": ("de", "male"),
    "esperanza": ("es", "female"), "violeta": ("es", "female"), "jorge": ("es", "male"),
    "rosa": ("es_MX", "female"), "jolie": ("fr", "female"), "bernard": ("fr", "male"),
    "paola": ("it", "female"), "luca": ("it", "male"), "masako": ("ja", "female"),
    "kenji": ("ja", "male"), "nadiya": ("ru", "female"), "anatoli": ("ru", "male"),
    "zeina": ("arb", "female"), "zhiyu": ("cmn-CN", "female"), "ruth": ("en_US", "female"),
    "stephen": ("en_US", "male"), "lupe": ("es_US", "female"), "pedro": ("es_US", "male"),
    "gabrielle": ("fr_CA", "female"), "liam": ("fr_CA", "male"),
}  # fmt: skip


def with_speech(body: Callable[[Speech], Awaitable[T]], **options: object) -> T:
    async def main() -> T:
        speech = Speech(**options)  # type: ignore[arg-type]
        try:
            return await body(speech)
        finally:
            await speech.close()

    return run(main())


def speak(text: str, **kw: str) -> Audio:
    return with_speech(lambda s: s.speak(text, **kw))


# --- voices (no espeak-ng needed) -----------------------------------------------------------------


def test_every_bandwidth_voice_with_its_locale_and_gender() -> None:
    assert {v.name: (v.locale, v.gender) for v in VOICES.values()} == BANDWIDTH_VOICES
    assert len({v.espeak for v in VOICES.values()}) == len(VOICES)  # each sounds different


def test_voice_wins_over_gender_and_locale() -> None:
    assert resolve_voice("jorge", "female", "de").name == "jorge"
    assert resolve_voice("Julie").name == "julie"  # v1 spelled them capitalised


def test_gender_and_locale_pick_a_voice() -> None:
    assert resolve_voice().name == "susan"  # "The default speaker susan", female en_US
    assert resolve_voice(voice="", gender="", locale="").name == "susan"  # empty: not given
    assert resolve_voice(gender="male").name == "dave"
    assert resolve_voice(locale="en_UK").name == "bridget"
    assert resolve_voice(gender="male", locale="en-GB").name == "simon"
    assert resolve_voice(gender="male", locale="de").name == "stefan"
    assert resolve_voice(gender="MALE", locale="fr_CA").name == "liam"
    # "If the chosen gender does not exist for the region, the opposite gender will be used"
    assert resolve_voice(gender="male", locale="es_MX").name == "rosa"
    assert resolve_voice(gender="male", locale="cmn-CN").name == "zhiyu"


@pytest.mark.parametrize(
    ("voice", "gender", "locale"),
    [("hal", None, None), (None, "robot", None), (None, None, "xx_XX"), (None, None, "x")],
)
def test_unknown_voice_gender_or_locale(
    voice: str | None, gender: str | None, locale: str | None
) -> None:
    with pytest.raises(InvalidSpeech):
        resolve_voice(voice, gender, locale)


# --- SSML (no espeak-ng needed) -------------------------------------------------------------------


def test_plain_text_stays_plain() -> None:
    for text in ("Press 1 for sales", "AT&T < 2 > 1", "Fish & chips", "a <b c"):
        prepared = prepare(text)
        assert not prepared.ssml and prepared.text == text


def test_ssml_is_rebuilt_from_bandwidths_tags_only() -> None:
    prepared = prepare(
        '<speak xmlns="http://www.w3.org/2001/10/synthesis" version="1.1">'
        '<p><s>Hello <emphasis level="strong">there</emphasis></s></p>'
        '<break time="30s"/><break time="500ms" onload="x"/>'
        '<prosody rate="slow" pitch="+10%" volume="-6dB" style="x">calm</prosody>'
        '<say-as interpret-as="telephone">2025551212</say-as>'
        '<sub alias="World Wide Web Consortium">W3C</sub>'
        '<phoneme alphabet="ipa" ph="təˈmeɪtoʊ">tomato</phoneme>'
        '<lang xml:lang="es-MX">Antonio Mendoza</lang>'
        '<audio src="file:///etc/passwd">fallback</audio><mark name="m"/></speak>'
    )
    assert prepared.ssml
    assert prepared.text == (
        '<speak><p><s>Hello <emphasis level="strong">there</emphasis></s></p>'
        '<break time="10000ms"/><break time="500ms"/>'  # Bandwidth's 10 s maximum
        '<prosody rate="slow" pitch="+10%" volume="-6dB">calm</prosody>'
        '<say-as interpret-as="telephone">2025551212</say-as>'
        "World Wide Web Consortium"
        "tomato"  # espeak-ng reads no IPA: the word itself
        '<voice xml:lang="es-419">Antonio Mendoza</voice>'
        "fallback</speak>"
    )
    assert prepared.spoken == (
        "Hello there calm2025551212World Wide Web ConsortiumtomatoAntonio Mendozafallback"
    )


def test_markup_that_is_not_ssml_is_spoken_as_text() -> None:
    for text in (
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><speak>&a;</speak>',  # no DTD, no entities
        "<speak>unclosed",
        "&nbsp; is not XML",
    ):
        assert not prepare(text).ssml


def test_control_characters_are_removed() -> None:
    assert prepare("one\x00two\x07three\x1b[31m").text == "one two three [31m"


# --- synthesis ------------------------------------------------------------------------------------


def test_press_1_is_real_speech(espeak: str) -> None:
    audio = speak("Press 1")
    assert audio.rate == 8000 and audio.label == "speech(susan): Press 1"
    assert 0.4 < audio.seconds < 2.5
    assert rms(audio) > 500  # not silence
    assert max(samples(audio)) > 5000


def test_different_texts_and_voices_sound_different(espeak: str) -> None:
    async def body(speech: Speech) -> list[Audio]:
        return [
            await speech.speak("Press 1"),
            await speech.speak("Press 2 for the operator"),
            await speech.speak("Press 1", voice="dave"),
        ]

    one, two, dave = with_speech(body)
    assert one.pcm != two.pcm and two.seconds > one.seconds
    assert dave.pcm != one.pcm and dave.label == "speech(dave): Press 1"


@pytest.mark.parametrize("voice", sorted(BANDWIDTH_VOICES))
def test_every_voice_speaks(espeak: str, voice: str) -> None:
    audio = speak("1 2 3", voice=voice)
    assert audio.seconds > 0.3 and rms(audio) > 300


def test_ssml_breaks_and_substitutions_are_spoken(espeak: str) -> None:
    async def body(speech: Speech) -> list[Audio]:
        return [
            await speech.speak("Hello world"),
            await speech.speak('Hello <break time="2s"/> world'),
            await speech.speak('<speak><sub alias="World Wide Web Consortium">W3C</sub></speak>'),
        ]

    plain, paused, sub = with_speech(body)
    assert paused.seconds > plain.seconds + 1.8
    assert paused.label == "speech(susan): Hello world"
    assert sub.label == "speech(susan): World Wide Web Consortium" and sub.seconds > 1.2


def test_text_with_markup_characters_is_spoken(espeak: str) -> None:
    for text in ("AT&T < 2", "<speak>unclosed", "a & b &amp; c"):
        assert rms(speak(text)) > 300, text


def test_hostile_text_is_only_ever_spoken(espeak: str, tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    for text in ("--help", f"-w {target}", "--stdout", "-v xx", "\x00\x01\x1b[2J\x7f", "-"):
        audio = speak(text)  # had espeak-ng read it as options there would be no WAV at all
        assert audio.label.startswith("speech(susan): ") and audio.seconds > 0, text
    assert not target.exists()


def test_text_length_is_bounded(espeak: str) -> None:
    with pytest.raises(InvalidSpeech, match="4096"):
        speak("x" * 100_000)
    with pytest.raises(InvalidSpeech, match="blank"):
        speak(" \n ")


def test_speech_length_is_bounded(espeak: str) -> None:
    with pytest.raises(InvalidSpeech, match="last more than 2"):
        with_speech(lambda s: s.speak("one two three four five six seven " * 10), max_seconds=2)


def test_cache_hits(espeak: str) -> None:
    async def body(speech: Speech) -> tuple[Audio, Audio, Audio, Audio]:
        first = await speech.speak("Press 1")
        again = await speech.speak("Press 1")
        same_voice = await speech.speak("Press 1", gender="female", locale="en_US")  # susan too
        other = await speech.speak("Press 1", voice="kate")
        assert (speech.syntheses, speech.cache_hits) == (2, 2)
        return first, again, same_voice, other

    first, again, same_voice, other = with_speech(body)
    assert again is first and same_voice is first and other.pcm != first.pcm


def test_cache_is_bounded_by_count_and_by_bytes(espeak: str) -> None:
    async def by_count(speech: Speech) -> int:
        for text in ("one", "two", "three", "one"):  # "one" was evicted by "three"
            await speech.speak(text)
        return speech.syntheses

    async def by_bytes(speech: Speech) -> int:
        await speech.speak("one")
        await speech.speak("one")
        return speech.syntheses

    assert with_speech(by_count, cache_items=2) == 4
    assert with_speech(by_count, cache_items=3) == 3
    assert with_speech(by_bytes, cache_bytes=1000) == 2  # "one" is bigger than the cache
    assert with_speech(by_bytes) == 1


def test_identical_requests_share_one_synthesis(espeak: str) -> None:
    async def body(speech: Speech) -> list[Audio]:
        results = await asyncio.gather(*(speech.speak("Please hold") for _ in range(8)))
        assert speech.syntheses == 1 and speech.cache_hits == 0
        return results

    results = with_speech(body)
    assert all(r is results[0] for r in results)


def test_a_caller_giving_up_does_not_cancel_the_others(espeak: str) -> None:
    async def body(speech: Speech) -> Audio:
        quitter = asyncio.create_task(speech.speak("Please hold"))
        stayer = asyncio.create_task(speech.speak("Please hold"))
        await asyncio.sleep(0)
        quitter.cancel()
        audio = await stayer
        assert speech.syntheses == 1
        return audio

    assert rms(with_speech(body)) > 300


def test_missing_espeak_is_a_clear_error() -> None:
    with pytest.raises(SpeechUnavailable, match="apt-get install espeak-ng"):
        with_speech(lambda s: s.speak("hi"), executable="/nonexistent/espeak-ng")


def test_a_failing_espeak_is_a_speech_error() -> None:
    with pytest.raises(SpeechError, match="exit 1"):
        with_speech(lambda s: s.speak("hi"), executable="false")


def test_a_slow_espeak_is_stopped(espeak: str) -> None:
    with pytest.raises(SpeechError, match="took more than"):
        with_speech(lambda s: s.speak("one two three four " * 200), timeout=0.01)


def test_close_fails_waiting_requests_and_refuses_new_ones(espeak: str) -> None:
    async def body(speech: Speech) -> None:
        waiting = asyncio.create_task(speech.speak("one two three four " * 200))
        await asyncio.sleep(0.05)
        await speech.close()
        with pytest.raises(SpeechError, match="closed"):
            await waiting
        with pytest.raises(SpeechError, match="closed"):
            await speech.speak("hi")

    with_speech(body)
