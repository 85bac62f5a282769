"""files: WAV and MP3 round trips, any WAV layout in, and hostile bytes refused."""

from __future__ import annotations

import io
import random
import struct
import wave

import pytest

from openband.audio.dtmf import detect, tones
from openband.audio.files import AudioError, decode, encode_mp3, encode_wav
from openband.audio.pcm import Audio, concat, resample, silence
from tests.unit.audio.conftest import samples

KEYS = tones("1397#", tone_ms=300, gap_ms=700)  # 5 s of real signal


def _wav(pcm: bytes, rate: int, width: int, channels: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def test_wav_round_trip_is_exact() -> None:
    data = encode_wav(KEYS)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    back = decode(data, "audio/wav")
    assert back.pcm == KEYS.pcm and back.rate == 8000


def test_mp3_round_trip_keeps_duration_and_digits() -> None:
    data = encode_mp3(KEYS)
    assert len(data) < len(KEYS.pcm) // 3  # compressed: 32 kbit/s against 128
    back = decode(data, "audio/mpeg")
    assert back.rate == 8000
    # LAME's delay and padding: up to three 72 ms frames at 8 kHz
    assert back.seconds == pytest.approx(KEYS.seconds, abs=0.25)
    assert detect(back) == "1397#"


def test_any_pcm_wav_becomes_8khz_mono() -> None:
    source = resample(KEYS, 22050)
    values = samples(source)
    stereo_24 = b"".join(
        ((v << 8) & 0xFFFFFF).to_bytes(3, "little") + bytes(3) for v in values
    )  # left: the keys at 24 bits; right: silent
    unsigned_8 = bytes((v >> 8) + 128 for v in values)
    for data in (_wav(stereo_24, 22050, 3, 2), _wav(unsigned_8, 22050, 1, 1)):
        back = decode(data)
        assert back.rate == 8000
        assert back.seconds == pytest.approx(KEYS.seconds, abs=0.01)
        assert detect(back) == "1397#"


def test_decode_at_another_rate() -> None:
    assert decode(encode_wav(KEYS), rate=16000).rate == 16000


HOSTILE = {
    "empty": b"",
    "garbage": random.Random(3).randbytes(20000),
    "html": b"<html><body>Not Found</body></html>" * 50,
    "riff, nothing else": b"RIFF",
    "riff, not wave": b"RIFF\x00\x00\x00\x00AVI LIST",
    "header only": encode_wav(KEYS)[:44],
    "truncated data": encode_wav(KEYS)[:5000],
    "claims 4 GB": encode_wav(KEYS)[:40] + struct.pack("<I", 0xFFFFFFFF) + encode_wav(KEYS)[44:],
    "no audio": encode_wav(Audio(b"")),
    "no data chunk": encode_wav(KEYS)[:36],
    "zero channels": encode_wav(KEYS)[:22] + b"\x00\x00" + encode_wav(KEYS)[24:],
    "1 Hz sample rate": encode_wav(KEYS)[:24] + struct.pack("<I", 1) + encode_wav(KEYS)[28:],
    "mp3, first frame cut": encode_mp3(KEYS)[:60],
    "mp3, header only": encode_mp3(KEYS)[:4],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_undecodable_bytes_raise_audio_error(name: str) -> None:
    with pytest.raises(AudioError):
        decode(HOSTILE[name])


def test_noise_is_not_taken_for_mp3_even_when_labelled_so() -> None:
    """dr_mp3 alone would find frame syncs in noise and "decode" it."""
    rng = random.Random(5)
    for _ in range(100):
        with pytest.raises(AudioError):
            decode(rng.randbytes(4000), "audio/mpeg")


def test_mp3_after_an_id3_tag() -> None:
    body = encode_mp3(KEYS)
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 1, 0]) + bytes(128)  # a 128-byte tag
    assert detect(decode(tag + body)) == "1397#"


def test_max_seconds_caps_a_wav_before_decoding() -> None:
    long = encode_wav(silence(20))
    assert decode(long).seconds == 20
    with pytest.raises(AudioError, match="longer than 10"):
        decode(long, max_seconds=10)


def test_max_seconds_caps_a_small_mp3_that_expands() -> None:
    """An hour-long MP3 of silence at 8 kbit/s is small; decoding stops at the cap."""
    quiet = encode_mp3(concat([silence(60)] * 10), bitrate=8)  # 10 minutes
    assert len(quiet) < 700_000
    with pytest.raises(AudioError, match="longer than 120"):
        decode(quiet, max_seconds=120)


def test_a_mutated_file_decodes_or_raises_audio_error() -> None:
    """Damaged headers reach the C decoders only as AudioError or as bounded audio."""
    rng = random.Random(11)
    originals = [encode_wav(KEYS), encode_mp3(KEYS)]
    for i in range(600):
        data = bytearray(originals[i % 2])
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(64)] = rng.randrange(256)
        try:
            audio = decode(bytes(data), max_seconds=60)
        except AudioError:
            continue
        assert audio.seconds <= 60


def test_encode_mp3_refuses_what_lame_cannot_do() -> None:
    with pytest.raises(AudioError, match="bitrates"):
        encode_mp3(KEYS, bitrate=7)  # LAME alone would quietly use another


def test_decode_reports_content_type_when_refusing() -> None:
    with pytest.raises(AudioError, match="text/plain"):
        decode(b"Hello, world. " * 10, "text/plain")
