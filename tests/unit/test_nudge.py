"""delivery/nudge.py: server processes wake delivery processes with datagrams, best effort."""

from __future__ import annotations

import asyncio
import secrets

from openband.delivery.nudge import Listener, Nudger, address


def _namespace() -> str:
    return f"test-{secrets.token_hex(6)}"


async def _wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "no nudge arrived"
        await asyncio.sleep(0.005)


async def _loop_turns(n: int = 3) -> None:
    """Let the event loop poll its sockets `n` times: a datagram already queued at a listener's
    socket is read (its callback run) within two turns, whatever the clock says."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_nudge_wakes_every_delivery_process_of_its_server() -> None:
    asyncio.run(_test_a_nudge_wakes_every_delivery_process_of_its_server())


async def _test_a_nudge_wakes_every_delivery_process_of_its_server() -> None:
    ns = _namespace()
    woken = [0, 0]
    listeners = [Listener(ns, i, lambda i=i: woken.__setitem__(i, woken[i] + 1)) for i in (0, 1)]
    nudger = Nudger(ns, 2)
    try:
        for listener in listeners:
            listener.start()
        nudger.wake()
        await _wait_for(lambda: all(woken))
    finally:
        nudger.close()
        for listener in listeners:
            listener.close()


def test_a_burst_of_nudges_is_drained_in_few_wake_ups() -> None:
    asyncio.run(_test_a_burst_of_nudges_is_drained_in_few_wake_ups())


async def _test_a_burst_of_nudges_is_drained_in_few_wake_ups() -> None:
    ns = _namespace()
    woken: list[int] = []
    listener = Listener(ns, 0, lambda: woken.append(1))
    nudger = Nudger(ns, 1)
    try:
        listener.start()
        for _ in range(200):  # all queued before the loop gets to read any
            nudger.wake()
        await _wait_for(lambda: bool(woken))
        await _loop_turns()  # any datagram still queued would wake the listener again by now
        assert len(woken) == 1  # the first wake-up drained all 200
    finally:
        nudger.close()
        listener.close()


def test_nobody_listening_is_not_an_error() -> None:
    nudger = Nudger(_namespace(), 3)
    try:
        for _ in range(1000):  # refused each time; never raises, never blocks
            nudger.wake()
    finally:
        nudger.close()


def test_servers_do_not_wake_each_others_delivery_processes() -> None:
    asyncio.run(_test_servers_do_not_wake_each_others_delivery_processes())


async def _test_servers_do_not_wake_each_others_delivery_processes() -> None:
    mine, theirs = _namespace(), _namespace()
    assert address(mine, 0) != address(theirs, 0)
    woken: list[str] = []
    listener = Listener(mine, 0, lambda: woken.append("mine"))
    other = Nudger(theirs, 1)
    own = Nudger(mine, 1)
    try:
        listener.start()
        other.wake()  # a datagram is queued at its address when sendto returns, or never
        await _loop_turns()  # had it come here, the listener would have read it by now
        assert woken == []
        own.wake()
        await _wait_for(lambda: woken == ["mine"])
    finally:
        other.close()
        own.close()
        listener.close()
