"""pcm: the Audio value, silence, concat, resample and mix (checked against a plain loop)."""

from __future__ import annotations

import ast
import random
from array import array
from pathlib import Path

import pytest

import openband.audio.pcm as pcm_module
from openband.audio.pcm import Audio, concat, mix, resample, silence
from tests.unit.audio.conftest import power_at, samples, sine

AUDIO_SRC = Path(__file__).resolve().parents[3] / "src" / "openband" / "audio"


def test_audio_is_re_exported_by_the_carrier_interface() -> None:
    from openband.network import voice

    assert voice.Audio is Audio


def test_the_audio_package_imports_only_leaves() -> None:
    """core/ and network/ both import it, so it may import only leaves: the hardened XML module
    and the BXML model (Bandwidth's voice table is defined once, there)."""
    found = []
    for path in sorted(AUDIO_SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [f"{node.module}.{a.name}" for a in node.names]
            found += [(path.name, n) for n in names if n.split(".")[0] == "openband"]
    assert found, "the scan sees the package's own imports"
    leaves = ("openband.audio", "openband.xmlsafe", "openband.bxml")
    assert [(f, n) for f, n in found if not n.startswith(leaves)] == []


def test_audio_seconds_and_checks() -> None:
    assert Audio(bytes(16000)).seconds == 1.0
    assert Audio(bytes(16000), rate=16000).seconds == 0.5
    with pytest.raises(ValueError):
        Audio(b"\x00")  # half a sample
    with pytest.raises(ValueError):
        Audio(b"", rate=0)


def test_silence() -> None:
    quiet = silence(0.25)
    assert quiet.pcm == bytes(4000) and quiet.rate == 8000
    assert silence(1, rate=16000).seconds == 1.0
    with pytest.raises(ValueError):
        silence(-1)


def test_concat_joins_in_order_at_the_first_rate() -> None:
    a, b = Audio(b"\x01\x00" * 8, label="a"), Audio(b"\x02\x00" * 8, label="b")
    joined = concat([a, b])
    assert joined.pcm == a.pcm + b.pcm and joined.label == "a + b"
    mixed_rates = concat([silence(1), silence(1, rate=16000)])
    assert mixed_rates.rate == 8000 and mixed_rates.seconds == pytest.approx(2.0, abs=0.01)
    assert concat([]).pcm == b""


def test_resample_keeps_duration_and_pitch() -> None:
    tone = sine(1000, 1.0, rate=22050)
    down = resample(tone, 8000)
    assert down.rate == 8000 and down.label == tone.label
    assert down.seconds == pytest.approx(1.0, abs=0.01)
    # the 1 kHz tone is still at 1 kHz, not somewhere else
    assert power_at(down, 1000) > 100 * power_at(down, 2757)
    assert power_at(down, 1000) > 0.5 * power_at(tone, 1000)
    assert resample(tone, 22050) is tone


def _reference_mix(pieces: list[tuple[float, Audio]], seconds: float | None) -> bytes:
    """The obvious loop: sum every sample, then clip."""
    placed = [(round(o * 8000), samples(a)) for o, a in pieces]
    if seconds is None:
        length = max((s + len(v) for s, v in placed), default=0)
    else:
        length = round(seconds * 8000)
    acc = [0] * length
    for start, values in placed:
        for i, x in enumerate(values):
            if start + i < length:
                acc[start + i] += x
    return array("h", (max(-32768, min(32767, x)) for x in acc)).tobytes()


@pytest.mark.parametrize("window", [pcm_module._WINDOW, 37])  # 37: windows split the pieces
def test_mix_sums_and_clips_like_the_plain_loop(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pcm_module, "_WINDOW", window)
    rng = random.Random(7)
    for _ in range(150):
        pieces = []
        for _ in range(rng.randint(0, 6)):
            amp = rng.choice([50, 20000, 32768])  # quiet, loud, full scale (clips when summed)
            values = [
                max(-32768, min(32767, rng.randint(-amp, amp))) for _ in range(rng.randint(0, 300))
            ]
            pieces.append((rng.randint(0, 400) / 8000, Audio(array("h", values).tobytes())))
        seconds = rng.choice([None, rng.randint(0, 800) / 8000])
        assert mix(pieces, seconds).pcm == _reference_mix(pieces, seconds)


def test_mix_clips_at_both_ends() -> None:
    loud = Audio(array("h", [30000, -30000, 20000, -20000]).tobytes())
    out = samples(mix([(0, loud), (0, loud)]))
    assert list(out) == [32767, -32768, 32767, -32768]


def test_mix_places_pieces_at_their_offsets() -> None:
    one = Audio(array("h", [1000] * 8000).tobytes(), label="first")
    two = Audio(array("h", [500] * 4000).tobytes(), label="second")
    out = mix([(2.0, two), (0.5, one)], seconds=4.0)
    values = samples(out)
    assert out.seconds == 4.0 and out.label == "first | second"
    assert values[0] == 0 and values[3999] == 0  # before the first piece: silence
    assert values[4000] == 1000 and values[11999] == 1000
    assert values[12000] == 0 and values[15999] == 0  # the gap between them
    assert values[16000] == 500 and values[19999] == 500
    assert values[20000] == 0  # padded to `seconds`
    assert mix([(0.5, one)]).seconds == 1.5  # no `seconds`: until the last piece ends
    assert mix([(0.5, one)], seconds=1.0).seconds == 1.0  # cut
    assert mix([]).pcm == b""


def test_mix_resamples_pieces_and_refuses_bad_offsets() -> None:
    out = mix([(0, sine(1000, 1.0, rate=16000))])
    assert out.rate == 8000 and out.seconds == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError):
        mix([(-1.0, silence(1))])
    with pytest.raises(ValueError):
        mix([(float("nan"), silence(1))])
