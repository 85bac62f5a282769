"""DTMF: the dual tones of ITU-T Q.23 for a digit string, and a Goertzel detector for them.

Each key is the sum of one low-group ("row") and one high-group ("column") frequency:

             1209 Hz  1336 Hz  1477 Hz  1633 Hz
    697 Hz      1        2        3        A
    770 Hz      4        5        6        B
    852 Hz      7        8        9        C
    941 Hz      *        0        #        D

`tones` follows Bandwidth's SendDtmf (AD site/docs/voice/bxml/sendDtmf.mdx): each tone lasts
`tone_ms` and is followed by `gap_ms` of silence; `w` and `,` stand for half a second and `W` for
a second, and they replace the gap after the tone before them rather than add to it
(`1w2` with any gap starts 2 half a second after 1 ends); a-d are A-D.

`detect` finds the keys again in audio (a DTMF receiver in the spirit of Q.24: both tones
present, each the strongest of its group, at most 8 dB apart, together most of the signal, for
at least two overlapping 25.6 ms windows in a row), so tests can prove the tones are real and
pick the digits out of a recording where speech overlaps them.
"""

from __future__ import annotations

import math
import operator
from array import array
from functools import lru_cache

from openband.audio.pcm import Audio, resample

ROWS = (697, 770, 852, 941)
COLUMNS = (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")
DIGITS = frozenset("0123456789*#ABCD")
PAUSES = {"w": 500, ",": 500, "W": 1000}  # ms; replace the gap after the tone before them

_FREQUENCIES = {
    key: (row, column)
    for row, keys in zip(ROWS, KEYS, strict=True)
    for column, key in zip(COLUMNS, keys, strict=True)
}
_AMPLITUDE = 8192  # per tone (-12 dBFS): the pair peaks at -6 dBFS, leaving room to mix


def _plan(digits: str, tone_ms: float, gap_ms: float) -> tuple[list[tuple[str, float]], float]:
    """The keys of `digits` with the millisecond each tone begins, and the whole length in ms
    (the last gap or pause included): the one reading of SendDtmf's string."""
    keys: list[tuple[str, float]] = []
    at_ms = 0.0
    pending_ms = 0.0  # silence owed before the next tone
    after_tone = False  # the pending silence is a tone's gap, which a pause replaces
    for ch in digits:
        if ch in PAUSES:
            pending_ms = PAUSES[ch] if after_tone else pending_ms + PAUSES[ch]
            after_tone = False
            continue
        key = ch.upper()
        if key not in DIGITS:
            raise ValueError(f"not a DTMF digit or pause: {ch!r} (0-9 * # A-D w W ,)")
        at_ms += pending_ms
        keys.append((key, at_ms))
        at_ms += tone_ms
        pending_ms, after_tone = gap_ms, True
    return keys, at_ms + pending_ms


def tones(digits: str, tone_ms: int = 200, gap_ms: int = 400, rate: int = 8000) -> Audio:
    """The tones for `digits` (0-9 * # A-D a-d, pauses w , W), labelled "dtmf: <digits>"."""
    if tone_ms <= 0 or gap_ms < 0:
        raise ValueError(f"tone_ms must be > 0 and gap_ms >= 0, not {tone_ms} and {gap_ms}")
    keys, total_ms = _plan(digits, tone_ms, gap_ms)
    pieces: list[bytes] = []
    cursor = 0.0
    for key, at_ms in keys:
        pieces += [_silence(int(at_ms - cursor), rate), _tone(key, tone_ms, rate)]
        cursor = at_ms + tone_ms
    pieces.append(_silence(int(total_ms - cursor), rate))
    return Audio(b"".join(pieces), rate, f"dtmf: {digits}")


def onsets(digits: str, tone_ms: int = 200, gap_ms: int = 400) -> list[tuple[str, float]]:
    """Each key of `digits` (upper-cased) with the second its tone begins in `tones(digits,
    tone_ms, gap_ms)`: pauses take no key, and replace the gap after the tone before them."""
    return [(key, at_ms / 1000) for key, at_ms in _plan(digits, tone_ms, gap_ms)[0]]


def seconds(digits: str, tone_ms: float = 200, gap_ms: float = 400) -> float:
    """How long `tones(digits, tone_ms, gap_ms)` lasts."""
    return _plan(digits, tone_ms, gap_ms)[1] / 1000


def _silence(ms: int, rate: int) -> bytes:
    return bytes(2 * (ms * rate // 1000))


@lru_cache(maxsize=64)
def _tone(key: str, ms: int, rate: int) -> bytes:
    low, high = _FREQUENCIES[key]
    wl, wh = 2 * math.pi * low / rate, 2 * math.pi * high / rate
    n = ms * rate // 1000
    samples = array(
        "h", (round(_AMPLITUDE * (math.sin(wl * i) + math.sin(wh * i))) for i in range(n))
    )
    return samples.tobytes()


# --- detection ---------------------------------------------------------------------------------

_RATE = 8000
_N = 205  # samples per window: the classic choice at 8 kHz (bins ~39 Hz apart, 25.6 ms)
_HOP = _N // 2  # overlapping windows, so a 50 ms tone (Bandwidth's shortest) fills two of them
_COEFFS = [2 * math.cos(2 * math.pi * f / _RATE) for f in (*ROWS, *COLUMNS)]
_MIN_TONE = 500**2 * _N / 2  # energy in a window of a tone of amplitude 500 (-36 dBFS)
_MAX_TWIST = 10 ** (8 / 10)  # 8 dB between the two tones' energies
_MIN_SHARE = 0.6  # of the window's energy in the two tones (0.4 let speech through as "9")
_RUNNER_UP = 10 ** (-6 / 10)  # another frequency of the same group at least 6 dB down


def detect(audio: Audio) -> str:
    """The DTMF keys heard in `audio`, in order (a key held is one key; a pause between two
    presses of the same key makes two)."""
    pcm = resample(audio, _RATE).pcm
    samples = array("h")
    samples.frombytes(pcm)
    found: list[str] = []
    previous: str | None = None
    reported = False
    for start in range(0, len(samples) - _N + 1, _HOP):
        key = _window_key(samples[start : start + _N])
        if key is not None and key == previous and not reported:
            found.append(key)
            reported = True
        elif key != previous:
            reported = False
        previous = key
    return "".join(found)


def _window_key(window: array) -> str | None:
    energy = float(sum(map(operator.mul, window, window)))
    if energy < 2 * _MIN_TONE:
        return None
    powers = []
    for coeff in _COEFFS:  # Goertzel: the DFT power at one frequency, one multiply per sample
        s1 = s2 = 0.0
        for x in window:
            s1, s2 = x + coeff * s1 - s2, s1
        powers.append(2 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / _N)  # as energy, like `energy`
    row = _strongest(powers[:4])
    column = _strongest(powers[4:])
    if row is None or column is None:
        return None
    low, high = powers[row], powers[4 + column]
    if min(low, high) < _MIN_TONE or max(low, high) > _MAX_TWIST * min(low, high):
        return None
    if low + high < _MIN_SHARE * energy:
        return None
    return KEYS[row][column]


def _strongest(powers: list[float]) -> int | None:
    """Index of the clear winner of a group, or None when another comes within 6 dB."""
    best = max(range(len(powers)), key=powers.__getitem__)
    if any(p > _RUNNER_UP * powers[best] for i, p in enumerate(powers) if i != best):
        return None
    return best
