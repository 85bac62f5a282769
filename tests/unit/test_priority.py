"""core/priority: background loops give way to accepts only while requests arrive."""

from __future__ import annotations

import time

import pytest

from openband.core import priority
from openband.core.priority import AcceptPriority


@pytest.fixture(autouse=True)
def saturated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process counts as saturated unless a test says otherwise."""
    monkeypatch.setattr(AcceptPriority, "_cpu_saturated", lambda self, mono: True)


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


def test_loops_split_the_share() -> None:
    p = AcceptPriority(0.5).register().register()
    p.touch()
    # Two loops at a 50 % share between them: each keeps to a quarter.
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


def test_no_pause_while_the_process_has_cpu_to_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AcceptPriority, "_cpu_saturated", lambda self, mono: False)
    p = AcceptPriority(0.25)
    p.touch()
    assert p.pause_for(0.010) == 0.0


def test_saturation_is_the_cpu_demand_of_the_last_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    clock = {"wall": 100.0, "cpu": 10.0}
    monkeypatch.setattr(priority.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(priority, "cpu_demand_clock", lambda: lambda: clock["cpu"])
    p = AcceptPriority(0.25)
    p.touch()
    clock["wall"] += 0.2
    clock["cpu"] += 0.1  # half a core
    p.touch()
    assert not p.busy
    clock["wall"] += 0.2
    clock["cpu"] += 0.2  # a whole core
    p.touch()
    assert p.busy


def test_cpu_demand_counts_time_spent_waiting_for_a_core() -> None:
    """On Linux the clock is schedstat's run + wait of this thread: it advances with work done
    here (and never slower than the thread's own CPU time)."""
    got = priority._schedstat()
    if got is None:
        pytest.skip("no /proc/thread-self/schedstat here")
    clock = priority.cpu_demand_clock()
    t0, c0 = clock(), time.thread_time()
    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:
        pass
    ran = time.thread_time() - c0
    assert clock() - t0 >= ran * 0.9  # scheduler accounting and thread_time differ a little
