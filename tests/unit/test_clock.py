"""clock.iso: Bandwidth's timestamps, ISO-8601 UTC with milliseconds and `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from openband.clock import iso, parse_iso


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
