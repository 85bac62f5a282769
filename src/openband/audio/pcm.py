"""The `Audio` value and the few operations calls need on it: silence, concat, mix, resample.

Audio is 16-bit little-endian mono linear PCM at `rate` Hz (8 kHz everywhere in the platform:
what G.711 carries), with a label saying what it is. It is what speech synthesis and decoded
files produce, what a carrier plays and records, and what every RTP codec is encoded from.

No numpy (not a dependency of the project) and no `audioop` (removed in Python 3.13): `mix`
sums with Python's big integers as SIMD registers (one 32-bit lane per sample), so every step
is a C loop over bytes; resampling is miniaudio's (a linear resampler with a low-pass filter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import miniaudio

_S16 = miniaudio.SampleFormat.SIGNED16


@dataclass(frozen=True, slots=True)
class Audio:
    """Audio to play or that was recorded: 16-bit little-endian mono PCM at `rate` Hz."""

    pcm: bytes
    rate: int = 8000
    label: str = ""  # what it is, e.g. "speech(susan): Press 1", a file URL, "dtmf: 12#"

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"Audio rate must be positive, not {self.rate}")
        if len(self.pcm) % 2:
            raise ValueError("Audio pcm must hold whole 16-bit samples (an even byte count)")

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (2 * self.rate)


def silence(seconds: float, rate: int = 8000) -> Audio:
    """`seconds` of silence (rounded to whole samples)."""
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"silence needs a duration >= 0, not {seconds}")
    return Audio(bytes(2 * round(seconds * rate)), rate, "silence")


def resample(audio: Audio, rate: int) -> Audio:
    """`audio` at another sample rate (same duration, same label)."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    if rate == audio.rate:
        return audio
    if not audio.pcm:
        return Audio(b"", rate, audio.label)
    pcm = miniaudio.convert_frames(_S16, 1, audio.rate, audio.pcm, _S16, 1, rate)
    return Audio(bytes(pcm), rate, audio.label)


def concat(parts: Iterable[Audio]) -> Audio:
    """The parts one after the other, at the first part's rate (others are resampled); the label
    joins the parts' labels with " + "."""
    parts = list(parts)
    rate = parts[0].rate if parts else 8000
    pcm = b"".join(resample(p, rate).pcm for p in parts)
    return Audio(pcm, rate, " + ".join(p.label for p in parts if p.label))


def mix(
    pieces: Iterable[tuple[float, Audio]],
    seconds: float | None = None,
    *,
    rate: int = 8000,
    label: str | None = None,
) -> Audio:
    """Pieces placed at their offsets (seconds from the start) and summed, clipped to 16 bits:
    a call recording made of what both sides produced.

    The result lasts `seconds` (pieces are cut there) or, when None, until the last piece ends.
    Pieces at another rate are resampled to `rate`. The label is `label`, or the pieces' labels
    in order of offset joined with " | ". Overlap-free stretches are copied, not summed.
    """
    placed: list[tuple[int, bytes, str]] = []
    for offset, audio in pieces:
        if not (math.isfinite(offset) and offset >= 0):
            raise ValueError(f"mix offsets must be finite and >= 0, not {offset}")
        placed.append((round(offset * rate), resample(audio, rate).pcm, audio.label))
    placed.sort(key=lambda p: p[0])
    if seconds is not None:
        if not seconds >= 0:
            raise ValueError(f"mix needs a duration >= 0, not {seconds}")
        length = round(seconds * rate)
    else:
        length = max((start + len(pcm) // 2 for start, pcm, _ in placed), default=0)
    if label is None:
        label = " | ".join(lbl for _, _, lbl in placed if lbl)

    out = bytearray(2 * length)
    group: list[tuple[int, bytes]] = []  # pieces that overlap one another, as one span
    group_start = group_end = 0
    for start, pcm, _ in placed:
        pcm = pcm[: max(0, 2 * (length - start))]
        if not pcm:
            continue
        end = start + len(pcm) // 2
        if group and start < group_end:
            group.append((start, pcm))
            group_end = max(group_end, end)
            continue
        _place(out, group, group_start, group_end)
        group, group_start, group_end = [(start, pcm)], start, end
    _place(out, group, group_start, group_end)
    return Audio(bytes(out), rate, label)


def _place(out: bytearray, group: list[tuple[int, bytes]], start: int, end: int) -> None:
    """Write a group of overlapping pieces (sorted by start) over [start, end) of `out`."""
    if len(group) == 1:
        out[2 * start : 2 * end] = group[0][1]
        return
    # Summed a window at a time: a big integer as long as the whole group would make each piece
    # cost the group's length, and a long chain of overlaps quadratic.
    active: list[tuple[int, bytes]] = []
    i = 0
    for w0 in range(start, end, _WINDOW):
        w1 = min(w0 + _WINDOW, end)
        while i < len(group) and group[i][0] < w1:
            active.append(group[i])
            i += 1
        active = [(s, pcm) for s, pcm in active if s + len(pcm) // 2 > w0]
        parts = []
        for s, pcm in active:
            lo, hi = max(s, w0), min(s + len(pcm) // 2, w1)
            parts.append((lo - w0, pcm[2 * (lo - s) : 2 * (hi - s)]))
        out[2 * w0 : 2 * w1] = _sum_clipped(parts, w1 - w0)


# --- summing with big integers --------------------------------------------------------------------
#
# Each sample becomes a 32-bit lane of one big integer (little-endian bytes -> int.from_bytes), so
# adding two integers adds every pair of samples at once, in C. Lanes must never borrow or carry
# into each other, so they hold offset values that stay within [0, 2**32): a piece's sample s is
# stored as s + 32768 (flip its top bit: offset binary), and a bias per lane brings the lane to
# sum + 2**31 + 32768 whatever the number of pieces covering it. A sum that fits 16 bits then
# has 0x8000 in the lane's top half and the offset-binary sample in its bottom half.

_FLIP = bytes(b ^ 0x80 for b in range(256))  # flips a byte's top bit (bytes.translate table)
_BIAS = (1 << 31) + 32768
_MAX_OVERLAP = 65535  # keeps every lane within [0, 2**32): K * 32768 < 2**31
_WINDOW = 16384  # samples summed in one big integer


def _lanes(value: int, n: int) -> bytes:
    return value.to_bytes(4, "little") * n


def _sum_clipped(pieces: list[tuple[int, bytes]], length: int) -> bytes:
    """The clipped sum of (start sample, pcm) pieces over `length` samples."""
    if len(pieces) > _MAX_OVERLAP:
        raise ValueError(f"mix sums at most {_MAX_OVERLAP} overlapping pieces")
    total = 0
    edges: list[tuple[int, int]] = []
    for start, pcm in pieces:
        n = len(pcm) // 2
        lanes = bytearray(4 * n)
        lanes[0::4] = pcm[0::2]
        lanes[1::4] = pcm[1::2].translate(_FLIP)
        total += int.from_bytes(lanes, "little") << (32 * start)
        edges += [(start, 1), (start + n, -1)]
    # The bias: 2**31 + 32768 per lane, less the 32768 each covering piece already added.
    edges.sort()
    segments: list[bytes] = []
    covered = at = 0
    for pos, step in edges:
        if pos > at:
            segments.append(_lanes(_BIAS - 32768 * covered, pos - at))
            at = pos
        covered += step
    segments.append(_lanes(_BIAS, length - at))
    total += int.from_bytes(b"".join(segments), "little")

    raw = total.to_bytes(4 * length, "little")
    if raw[2::4] != bytes(length) or raw[3::4] != b"\x80" * length:  # some sum left int16
        raw = _clamp(total, length).to_bytes(4 * length, "little")
    out = bytearray(2 * length)
    out[0::2] = raw[0::4]
    out[1::2] = raw[1::4].translate(_FLIP)
    return bytes(out)


def _clamp(total: int, length: int) -> int:
    """Lanes of sum + _BIAS clamped to the int16 range, with lane-wise bit tricks (no loop)."""

    def pattern(value: int) -> int:
        return int.from_bytes(_lanes(value, length), "little")

    top, middle = pattern(1 << 31), pattern(0x7FFF0000)
    # sum < -32768 <=> lane < 2**31: its top bit is clear.
    under = (total & top) ^ top
    # sum > 32767 <=> lane >= 2**31 + 2**16: top bit set and some bit of 16..30 set; adding
    # 0x7FFF0000 to those bits alone reaches bit 31 exactly when one of them is set.
    over = ((total & middle) + middle) & total & top
    under, over = under >> 31, over >> 31  # 1 in the lanes to clamp
    under, over = (under << 32) - under, (over << 32) - over  # all ones in those lanes
    keep = ((1 << (32 * length)) - 1) ^ (under | over)
    return (total & keep) | (over & pattern(_BIAS + 32767)) | (under & pattern(_BIAS - 32768))
