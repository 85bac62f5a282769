"""Helpers for the audio tests: real audio only, measured with small pure-Python tools."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from array import array
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from openband.audio.pcm import Audio

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def samples(audio: Audio) -> array:
    out = array("h")
    out.frombytes(audio.pcm)
    return out


def rms(audio: Audio) -> float:
    values = samples(audio)
    return math.sqrt(sum(x * x for x in values) / len(values)) if values else 0.0


def sine(freq: float, seconds: float, rate: int = 8000, amplitude: int = 10000) -> Audio:
    n = round(seconds * rate)
    pcm = array("h", (round(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))
    return Audio(pcm.tobytes(), rate, f"sine {freq} Hz")


def power_at(audio: Audio, freq: float) -> float:
    """Mean power of `audio` at `freq` (a plain DFT bin, independent of the code under test)."""
    values = samples(audio)
    w = 2 * math.pi * freq / audio.rate
    re = sum(x * math.cos(w * i) for i, x in enumerate(values))
    im = sum(x * math.sin(w * i) for i, x in enumerate(values))
    return 2 * (re * re + im * im) / len(values) ** 2


@pytest.fixture
def espeak() -> str:
    """espeak-ng's path: the speech tests skip without it locally, and fail under CI (which
    installs it: .ci/run)."""
    path = shutil.which("espeak-ng")
    if path is None:
        message = "espeak-ng is not installed (apt-get install espeak-ng)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
