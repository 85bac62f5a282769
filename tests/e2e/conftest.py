"""End-to-end tests: raw HTTP against a live `openband serve` (tests/support/live.py)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.support.live import attach_server_log, live_server, stop_shared_servers

__all__ = ["live_server"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    attach_server_log(item, outcome.get_result())


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_shared_servers()
