"""core/priority: background loops give way to accepts only while requests arrive."""

from __future__ import annotations

import time

import pytest

from openband.core import priority
from openband.core.priority import AcceptPriority


def test_no_pause_without_requests() -> None:
    p = AcceptPriority(0.25)
    assert not p.busy
    assert p.pause_for(0.010) == 0.0


def test_pause_keeps_the_share_while_requests_arrive() -> None:
    p = AcceptPriority(0.25)
    p.touch()
    assert p.busy
    # 10 ms of work at a 25 % share: 30 ms of pause, so the loop runs a quarter of the time.
    assert p.pause_for(0.010) == pytest.approx(0.030)


def test_pause_is_capped_so_a_backlog_keeps_moving() -> None:
    p = AcceptPriority(0.01)
    p.touch()
    assert p.pause_for(10.0) == priority.MAX_PAUSE


def test_share_one_turns_it_off() -> None:
    p = AcceptPriority(1.0)
    p.touch()
    assert p.pause_for(0.5) == 0.0


def test_requests_stop_counting_after_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    p = AcceptPriority(0.5)
    p.touch()
    later = time.monotonic() + priority.ACTIVE_WINDOW + 0.01
    monkeypatch.setattr(priority.time, "monotonic", lambda: later)
    assert not p.busy
    assert p.pause_for(0.010) == 0.0


@pytest.mark.parametrize("share", [0, -1, 1.5])
def test_share_must_be_a_fraction(share: float) -> None:
    with pytest.raises(ValueError):
        AcceptPriority(share)
