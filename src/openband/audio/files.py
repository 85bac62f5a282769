"""Audio files in and out: WAV and MP3 (what Bandwidth plays and records), with hard limits.

`decode` turns a WAV (PCM of any rate, width and channel count, or float, A-law, µ-law) or an
MP3 into 8 kHz mono 16-bit `Audio`; `encode_wav` and `encode_mp3` write recordings. Decoding
is miniaudio's (dr_wav and dr_mp3, MIT); MP3 encoding is LAME's through lameenc (LGPL, loaded
as a separate shared library); WAV writing is the standard library's `wave`.

The bytes come from a customer's URL, so they are checked before any decoder sees them: the
format is told by its magic bytes (MP3 must start with an ID3 tag or two consecutive valid
frame headers, so noise is not "decoded" as MP3), a WAV whose chunks claim more bytes than it
has is refused, and decoding stops with an error past `max_seconds`, so a small hostile file
cannot expand into gigabytes of PCM. Every refusal is an `AudioError`.
"""

from __future__ import annotations

import io
import struct
import wave

import lameenc
import miniaudio

from openband.audio.pcm import Audio

MAX_SECONDS = 3600.0  # default cap on a decoded file's length
_MIN_RATE, _MAX_RATE = 1000, 384000  # Hz, for a WAV file
_CHUNK_FRAMES = 16384  # frames decoded per call into miniaudio
_MP3_TYPES = frozenset({"audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3", "audio/x-mp3"})
_MP3_BITRATES = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320)
_MP3_SCAN = 65536  # bytes searched for a first frame after an ID3 tag or in an audio/mpeg body


class AudioError(ValueError):
    """The bytes are not audio this platform can play (the message says why)."""


def decode(
    data: bytes,
    content_type: str | None = None,
    *,
    max_seconds: float = MAX_SECONDS,
    rate: int = 8000,
) -> Audio:
    """WAV or MP3 bytes as mono 16-bit PCM at `rate` Hz (mixed down and resampled).

    The format is told by the bytes; `content_type` (e.g. "audio/mpeg") only widens the search
    for an MP3's first frame. Raises AudioError for anything else, for a file that is empty,
    truncated or holds no audio, and for one that decodes to more than `max_seconds`.
    """
    if not data:
        raise AudioError("the audio file is empty")
    media = (content_type or "").split(";")[0].strip().lower()
    if data[:4] in (b"RIFF", b"RIFX"):
        _check_wav(data, max_seconds)
        encoding = miniaudio.lib.ma_encoding_format_wav
    elif _mp3_start(data, scan=media in _MP3_TYPES) is not None:
        encoding = miniaudio.lib.ma_encoding_format_mp3
    else:
        what = f" (content type {content_type})" if content_type else ""
        raise AudioError(f"not a WAV or MP3 file{what}")
    pcm = _decode(data, encoding, rate, max_frames=int(max_seconds * rate))
    if not pcm:
        raise AudioError("the audio file holds no audio")
    return Audio(pcm, rate)


def encode_wav(audio: Audio) -> bytes:
    """A 16-bit mono PCM WAV file of `audio`, at its rate."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.rate)
        w.writeframes(audio.pcm)
    return out.getvalue()


def encode_mp3(audio: Audio, bitrate: int = 32) -> bytes:
    """A mono MP3 of `audio` at `bitrate` kbit/s (32 is plenty for 8 kHz telephone audio).

    CPU-bound (about 1.5 ms per second of audio): run long recordings off the event loop.
    """
    if bitrate not in _MP3_BITRATES:  # LAME would quietly pick another
        raise AudioError(f"MP3 bitrates are {', '.join(map(str, _MP3_BITRATES))}, not {bitrate}")
    encoder = lameenc.Encoder()
    try:
        encoder.set_bit_rate(bitrate)
        encoder.set_in_sample_rate(audio.rate)
        encoder.set_channels(1)
        encoder.set_quality(5)  # LAME's "good": half the time of 2, no audible loss at 8 kHz
        return bytes(encoder.encode(audio.pcm)) + bytes(encoder.flush())
    except RuntimeError as exc:  # lameenc reports bad settings this way
        raise AudioError(f"cannot encode MP3 at {bitrate} kbit/s, {audio.rate} Hz: {exc}") from exc


# --- decoding ------------------------------------------------------------------------------------


def _decode(data: bytes, encoding: int, rate: int, max_frames: int) -> bytes:
    """Decode with miniaudio's decoder for one format (never its try-every-format fallback,
    which would read a damaged WAV as MP3 noise), stopping past `max_frames`."""
    ffi, lib = miniaudio.ffi, miniaudio.lib
    config = lib.ma_decoder_config_init(lib.ma_format_s16, 1, rate)
    config.encodingFormat = encoding
    decoder = ffi.new("ma_decoder *")
    if lib.ma_decoder_init_memory(data, len(data), ffi.addressof(config), decoder) != 0:
        raise AudioError("the audio file cannot be decoded")
    try:
        buffer = ffi.new("int16_t[]", _CHUNK_FRAMES)
        got = ffi.new("ma_uint64 *")
        out = bytearray()
        while True:
            result = lib.ma_decoder_read_pcm_frames(decoder, buffer, _CHUNK_FRAMES, got)
            out += ffi.buffer(buffer, 2 * got[0])
            if len(out) > 2 * max_frames:
                raise AudioError(f"the audio is longer than {max_frames / rate:g} seconds")
            if result != 0 or got[0] == 0:  # MA_AT_END, or an error after what was read
                break
        return bytes(out)
    finally:
        lib.ma_decoder_uninit(decoder)


def _check_wav(data: bytes, max_seconds: float) -> None:
    """Refuse a WAV whose chunks run past its end, or that is too long or holds no audio."""
    endian = "<" if data[:4] == b"RIFF" else ">"
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (truncated RIFF header)")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack(endian + "I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"data":
            if size > len(data) - body:
                raise AudioError(
                    f"the WAV file is truncated: its header claims {size} bytes of audio, "
                    f"{len(data) - body} follow"
                )
            if fmt is None:
                raise AudioError("the WAV file has no fmt chunk before its data")
            channels, sample_rate, block_align = fmt
            frames = size // block_align
            if frames == 0:
                raise AudioError("the WAV file holds no audio")
            if frames > max_seconds * sample_rate:
                raise AudioError(f"the audio is longer than {max_seconds:g} seconds")
            return
        if size > len(data) - body:
            raise AudioError(f"the WAV file is truncated (in its {chunk!r} chunk)")
        if chunk == b"fmt ":
            if size < 16:
                raise AudioError("the WAV file has a malformed fmt chunk")
            _, channels, sample_rate, _, block_align, _ = struct.unpack(
                endian + "HHIIHH", data[body : body + 16]
            )
            if not (channels and block_align):
                raise AudioError("the WAV file's fmt chunk has zero channels or block size")
            if not _MIN_RATE <= sample_rate <= _MAX_RATE:  # 10 Hz "audio" is an expansion trick
                raise AudioError(f"the WAV file's sample rate is not supported: {sample_rate} Hz")
            fmt = (channels, sample_rate, block_align)
        pos = body + size + (size & 1)  # chunks are padded to even sizes
    raise AudioError("the WAV file has no data chunk")


# MPEG audio frame headers (ISO/IEC 11172-3 and 13818-3): kbit/s by [MPEG-1?][layer][index],
# sample rates by version, and bytes per frame from those.
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frame(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(frame length, version, sample rate) of a valid MPEG audio frame header at `pos`."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = data[pos + 1], data[pos + 2]
    version, layer = (b1 >> 3) & 3, 4 - ((b1 >> 1) & 3)  # layer 4 = reserved
    index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer == 4 or index in (0, 15) or rate_index == 3:
        return None  # reserved values; free-format bitrate is refused too
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        length = (12 * bitrate // sample_rate + padding) * 4
    else:
        per_frame = 144 if layer == 2 or mpeg1 else 72
        length = per_frame * bitrate // sample_rate + padding
    return length, version, sample_rate


def _mp3_start(data: bytes, scan: bool = False) -> int | None:
    """Where the first MPEG audio frame starts, if `data` is an MP3: right after any ID3v2 tags
    (and zero padding) or, when the file has such a tag or `scan` is set, within the next
    _MP3_SCAN bytes. The frame must be followed by another of the same stream, or end the data.
    """
    pos = 0
    while data[pos : pos + 3] == b"ID3" and pos + 10 <= len(data):
        size = 0
        for b in data[pos + 6 : pos + 10]:  # syncsafe: 7 bits a byte
            size = size << 7 | (b & 0x7F)
        pos += 10 + size + (10 if data[pos + 5] & 0x10 else 0)  # a footer follows
        scan = True
    limit = pos + _MP3_SCAN
    while pos < min(len(data), limit) and data[pos] == 0:
        pos += 1
    for at in range(pos, min(len(data), limit) if scan else pos + 1):
        first = _frame(data, at)
        if first is None:
            continue
        end = at + first[0]
        if end > len(data):
            if at == pos:
                raise AudioError("the MP3 file is truncated (in its first frame)")
            continue
        following = _frame(data, end)
        if end + 4 > len(data) or (following is not None and following[1:] == first[1:]):
            return at
    return None
