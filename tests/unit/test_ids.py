"""Identifier shapes: what receivers and SDKs may parse."""

from __future__ import annotations

import re
import time
import uuid

from openband import ids


def test_event_ids_are_uuid7_in_time_order() -> None:
    before = time.time_ns() // 1_000_000
    first = ids.event_id()
    time.sleep(0.003)
    later = [ids.event_id() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    for e in [first, *later]:
        u = uuid.UUID(e)
        assert str(u) == e  # canonical lower-case form
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert before <= u.int >> 80 <= after  # the 48-bit unix-millisecond prefix
    assert all(first < e for e in later)  # a later millisecond sorts after, as text too
    assert len(set(later)) == len(later)


def test_message_id_shape() -> None:
    assert re.fullmatch(r"\d{13}[a-z0-9]{17}", ids.message_id())
