"""clock: Bandwidth's timestamps (ISO-8601 UTC with milliseconds and `Z`), and the injected
clocks (RealClock, VirtualClock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from openband.clock import Clock, RealClock, VirtualClock, iso, parse_iso


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2026-01-02T03:04:05.678Z"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 999), "2026-01-02T03:04:05.000Z"),  # naive: UTC
        (datetime(2026, 1, 2, 3, 4, 5, 1000), "2026-01-02T03:04:05.001Z"),
        (  # another offset is converted, not relabelled
            datetime(2026, 1, 2, 23, 4, 5, 250000, tzinfo=timezone(timedelta(hours=-5))),
            "2026-01-03T04:04:05.250Z",
        ),
    ],
)
def test_iso(dt: datetime, text: str) -> None:
    assert iso(dt) == text
    assert iso(parse_iso(text)) == text


def test_iso_of_none() -> None:
    assert iso(None) is None


# --- the injected clock ---------------------------------------------------------------------------

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _at(clock: VirtualClock) -> float:
    return (clock.now() - START).total_seconds()


def test_virtual_clock_runs_timers_in_deadline_order_ties_in_scheduling_order() -> None:
    async def go() -> None:
        clock = VirtualClock(START)
        ran: list[tuple[str, float, float]] = []

        def note(name: str) -> None:
            ran.append((name, _at(clock), clock.monotonic()))

        clock.call_later(2, lambda: note("b"))
        clock.call_later(1, lambda: note("a1"))
        clock.call_later(1, lambda: note("a2"))  # same deadline: after a1
        clock.call_later(-5, lambda: note("now"))  # a negative delay means now
        clock.call_later(3.5, lambda: note("late"))
        await clock.advance(3)
        assert ran == [("now", 0, 0), ("a1", 1, 1), ("a2", 1, 1), ("b", 2, 2)]
        assert _at(clock) == 3 and clock.monotonic() == 3  # the end of the advance
        assert clock.pending == 1
        await clock.advance(0.5)
        assert ran[-1] == ("late", 3.5, 3.5)

    asyncio.run(go())


def test_virtual_clock_cancelled_timers_do_not_run() -> None:
    async def go() -> None:
        clock = VirtualClock(START)
        ran: list[str] = []
        t = clock.call_later(1, lambda: ran.append("x"))
        clock.call_later(2, lambda: ran.append("y"))
        t.cancel()
        assert clock.pending == 1
        await clock.advance(5)
        assert ran == ["y"]
        t.cancel()  # cancelling again (or after running) is harmless
        assert clock.pending == 0 and clock.next_deadline() is None

    asyncio.run(go())


def test_virtual_clock_lets_started_tasks_run_and_their_timers_fall_due_in_the_same_advance() -> (
    None
):
    async def go() -> None:
        clock = VirtualClock(START)
        ran: list[tuple[str, float]] = []

        async def chain() -> None:
            # several loop turns before it sets its own timer
            for _ in range(5):
                await asyncio.sleep(0)
            ran.append(("task", _at(clock)))
            clock.call_later(1, lambda: ran.append(("inner", _at(clock))))

        clock.call_later(1, lambda: asyncio.get_running_loop().create_task(chain()))
        clock.call_later(1.5, lambda: ran.append(("between", _at(clock))))
        await clock.advance(2.5)
        assert ran == [("task", 1), ("between", 1.5), ("inner", 2)]

    asyncio.run(go())


def test_virtual_clock_advance_first_runs_what_is_ready_now() -> None:
    async def go() -> None:
        clock = VirtualClock(START)
        ran: list[float] = []

        async def starts_timer() -> None:
            await asyncio.sleep(0)
            clock.call_later(1, lambda: ran.append(_at(clock)))

        asyncio.get_running_loop().create_task(starts_timer())
        await clock.advance(1)  # the task runs at 0, its timer falls due within this advance
        assert ran == [1]

    asyncio.run(go())


def test_virtual_clock_run_until_idle_and_its_limit() -> None:
    async def go() -> None:
        clock = VirtualClock(START)
        ran: list[float] = []
        clock.call_later(10, lambda: ran.append(_at(clock)))
        clock.call_later(100, lambda: ran.append(_at(clock)))
        await clock.run_until_idle()
        assert ran == [10, 100] and _at(clock) == 100 and clock.pending == 0

        ticks: list[float] = []

        def tick() -> None:  # periodic: never idle
            ticks.append(_at(clock))
            clock.call_later(60, tick)

        clock.call_later(60, tick)
        await clock.run_until_idle(limit=600)
        assert len(ticks) == 10 and ticks[-1] == 700
        assert clock.pending == 1

    asyncio.run(go())


def test_virtual_clock_refuses_to_go_back_and_naive_starts() -> None:
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 1, 1))

    async def go() -> None:
        with pytest.raises(ValueError):
            await VirtualClock(START).advance(-1)

    asyncio.run(go())


def test_virtual_clock_a_failing_callback_surfaces() -> None:
    async def go() -> None:
        clock = VirtualClock(START)
        clock.call_later(1, lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            await clock.advance(2)

    asyncio.run(go())


def test_real_clock() -> None:
    async def go() -> None:
        clock: Clock = RealClock()
        assert clock.now().tzinfo is not None and clock.now().utcoffset() == timedelta(0)
        assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1
        m0 = clock.monotonic()
        fired = asyncio.Event()
        fired_after: list[float] = []
        cancelled: list[int] = []
        clock.call_later(0.05, lambda: (fired_after.append(clock.monotonic() - m0), fired.set()))
        t = clock.call_later(0.02, lambda: cancelled.append(1))
        t.cancel()
        await asyncio.wait_for(fired.wait(), 2)
        await asyncio.sleep(0.05)
        assert cancelled == []
        assert fired_after[0] >= 0.04  # not before its delay (the loop's clock has ms steps)

    asyncio.run(go())
