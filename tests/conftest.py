"""Suite-wide fixtures: every API test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from openband.config import Settings
from openband.store.db import Database, migrate
from tests.support.backends import (
    create_pg_schema,
    drop_pg_schema,
    postgres_base_url,
    run_with_db,
)
from tests.support.harness import Account, Harness

_PG = postgres_base_url()
BACKENDS = ["sqlite"] + (["postgres"] if _PG else [])


def pytest_report_header(config: pytest.Config) -> str:
    return f"openband backends: {', '.join(BACKENDS)}" + ("" if _PG else " (PostgreSQL skipped)")


def make_settings(database_url: str, **kw: object) -> Settings:
    return Settings(
        database_url=database_url,
        dev_account=False,
        worker_poll_seconds=0.05,
        credential_cache_seconds=30,
        inventory_lines_per_exchange=1000,
        **kw,
    )


@pytest.fixture(scope="session", params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    backend = request.param
    if backend == "sqlite":
        path = Path(tmp_path_factory.mktemp("db")) / "openband.db"
        with Harness(make_settings(f"sqlite:///{path}"), backend) as h:
            yield h
        return
    assert _PG is not None
    url, schema = create_pg_schema(_PG)
    try:
        with Harness(make_settings(url), backend) as h:
            yield h
    finally:
        drop_pg_schema(_PG, schema)


@pytest.fixture
def account(harness: Harness) -> Account:
    return harness.new_account()


@pytest.fixture
def other_account(harness: Harness) -> Account:
    return harness.new_account()


@pytest.fixture(params=BACKENDS)
def on_db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[Callable[[Database], Awaitable[None]]], None]]:
    """For store-level tests: runs `check(db)` on a migrated, empty database of each backend."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ob.db'}"
    else:
        assert _PG is not None
        url, schema = create_pg_schema(_PG)
    migrate(url)

    try:
        yield lambda check: run_with_db(url, check)
    finally:
        if schema is not None:
            assert _PG is not None
            drop_pg_schema(_PG, schema)
