"""Contract tests: schemathesis over Bandwidth's own OpenAPI specs against a live server."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.support.live import LiveServer, stop_shared_servers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    report = outcome.get_result()
    ctx = getattr(item, "funcargs", {}).get("contract")
    server = getattr(ctx, "server", None)
    if report.failed and isinstance(server, LiveServer):
        report.sections.append((f"openband serve log (tail) {server.log_path}", server.log_tail()))


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_shared_servers()
