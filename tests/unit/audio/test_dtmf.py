"""dtmf: the tones are Q.23's frequencies with Bandwidth's timing, and the detector finds them."""

from __future__ import annotations

import random
from array import array

import pytest

from openband.audio.dtmf import detect, onsets, tones
from openband.audio.pcm import Audio, mix, resample, silence
from openband.audio.speech import Speech
from tests.unit.audio.conftest import power_at, run, samples, sine

Q23 = {  # ITU-T Q.23: (low, high) Hz
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip
ALL = (697, 770, 852, 941, 1209, 1336, 1477, 1633)


@pytest.mark.parametrize("digit", sorted(Q23))
def test_each_key_is_its_two_q23_frequencies(digit: str) -> None:
    """Measured with a plain DFT here, not the module's own detector."""
    tone = tones(digit, tone_ms=200, gap_ms=0)
    low, high = Q23[digit]
    powers = {f: power_at(tone, f) for f in ALL}
    for f in ALL:
        if f not in (low, high):
            assert powers[low] > 30 * powers[f] and powers[high] > 30 * powers[f], f
    assert 0.5 < powers[low] / powers[high] < 2  # the same level: no twist


def test_timing_follows_senddtmf() -> None:
    audio = tones("12", tone_ms=100, gap_ms=300)
    assert audio.label == "dtmf: 12" and audio.rate == 8000
    assert audio.seconds == pytest.approx(0.8)  # tone, gap, tone, gap
    values = samples(audio)
    assert any(values[:800]) and not any(values[800:3200]) and any(values[3200:4000])
    assert not any(values[4000:])


def test_pauses_replace_the_gap() -> None:
    # "All w, , and W chars replace toneInterval": 1w2 starts 2 half a second after 1 ends.
    for digits, gap_s in [("1w2", 0.5), ("1,2", 0.5), ("1W2", 1.0), ("1ww2", 1.0), ("1wW2", 1.5)]:
        values = samples(tones(digits, tone_ms=100, gap_ms=300))
        assert not any(values[800 : 800 + round(gap_s * 8000)]), digits
        assert any(values[800 + round(gap_s * 8000) : 800 + round(gap_s * 8000) + 80]), digits
    leading = samples(tones("w1", tone_ms=100, gap_ms=300))
    assert not any(leading[:4000]) and any(leading[4000:4100])


def test_lowercase_letters_and_bad_digits() -> None:
    assert tones("abcd").pcm == tones("ABCD").pcm
    for bad in ("x", "1 2", "E", "+"):
        with pytest.raises(ValueError):
            tones(bad)
    with pytest.raises(ValueError):
        tones("1", tone_ms=0)


def test_detect_finds_every_key() -> None:
    assert detect(tones("0123456789*#ABCD")) == "0123456789*#ABCD"


def test_detect_at_bandwidths_shortest_tones() -> None:
    assert detect(tones("1122#", tone_ms=50, gap_ms=50)) == "1122#"  # a held key is one key


def test_detect_at_another_rate() -> None:
    assert detect(tones("159#", rate=16000)) == "159#"
    assert detect(resample(tones("73"), 22050)) == "73"


def test_detect_ignores_silence_noise_and_single_tones() -> None:
    rng = random.Random(1)
    noise = Audio(array("h", (rng.randint(-8000, 8000) for _ in range(16000))).tobytes())
    assert detect(silence(2)) == ""
    assert detect(noise) == ""
    assert detect(sine(697, 1.0)) == ""  # half a key is no key
    assert detect(mix([(0, sine(697, 1.0)), (0, sine(1209, 1.0, amplitude=1000))])) == ""  # twist


def test_detect_finds_digits_in_a_recording_with_speech(espeak: str) -> None:
    async def speak() -> Audio:
        speech = Speech()
        try:
            return await speech.speak("Thank you for calling. Please enter your account number.")
        finally:
            await speech.close()

    talk = run(speak())
    assert detect(talk) == ""  # speech alone is no key ("talk-off")
    # the caller keys 42# while the prompt is still playing, then 7 after it
    recording = mix([(0.0, talk), (0.8, tones("42#")), (talk.seconds + 0.5, tones("7"))])
    assert detect(recording) == "42#7"


def test_onsets_follow_the_tones() -> None:
    assert onsets("12", 100, 50) == [("1", 0.0), ("2", 0.15)]
    assert onsets("1w2,3Wa", 100, 400) == [("1", 0.0), ("2", 0.6), ("3", 1.2), ("A", 2.3)]
    assert onsets("ww1") == [("1", 1.0)]  # pauses before the first key add up
    for digits in ("1w2", "159#", "3W4"):  # each onset is where the detector hears a key
        audio = tones(digits, 100, 100)
        assert detect(audio) == "".join(k for k, _ in onsets(digits, 100, 100))
    with pytest.raises(ValueError):
        onsets("1x")
