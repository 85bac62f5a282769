"""core/voice/limits.py: the per-account dial schedule, in plain numbers."""

from __future__ import annotations

import pytest

from openband.core.voice.limits import CallLimits, DialSchedule, RateLimited


def test_no_rate_means_no_wait() -> None:
    s = DialSchedule()
    assert [s.slot("a", CallLimits(), 0.0) for _ in range(100)] == [0.0] * 100
    assert s.waiting("a", CallLimits(), 0.0) == 0


def test_calls_are_spaced_at_the_rate_and_the_queue_counts_those_not_dialled() -> None:
    s, limits = DialSchedule(), CallLimits(per_second=2, queue=3)
    delays = [s.slot("a", limits, 10.0) for _ in range(4)]  # one now, three waiting
    assert delays == [0.0, 0.5, 1.0, 1.5]
    assert s.waiting("a", limits, 10.0) == 3
    with pytest.raises(RateLimited) as e:
        s.slot("a", limits, 10.0)
    assert e.value.retry_after == 1
    assert s.slot("b", limits, 10.0) == 0.0  # another account's schedule
    # Half a second on, the second call was dialled: one place in the queue again.
    assert s.waiting("a", limits, 10.5) == 2
    assert s.slot("a", limits, 10.5) == pytest.approx(1.5)
    # Long after, the schedule starts from now.
    assert s.slot("a", limits, 100.0) == 0.0
    assert s.waiting("a", limits, 100.0) == 0


def test_concurrent_limit() -> None:
    s = DialSchedule()
    s.check_concurrent(99, CallLimits(concurrent=100))
    with pytest.raises(RateLimited):
        s.check_concurrent(100, CallLimits(concurrent=100))
    s.check_concurrent(10_000, CallLimits())


def test_limits_from_the_accounts_json() -> None:
    raw = {"voice_calls_per_second": "5", "voice_concurrent_calls": 100, "voice_call_queue": 0}
    assert CallLimits.from_json(raw) == CallLimits(5.0, 100, None)
    assert CallLimits.from_json({"voice_calls_per_second": "fast"}) == CallLimits()
    assert CallLimits.from_json(None) == CallLimits()
