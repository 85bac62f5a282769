"""The migrations build exactly the schema of store/schema.py, on SQLite and on PostgreSQL, from
one head, and the newest one can be undone and redone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from openband.store.db import MIGRATIONS_DIR, make_sync_engine, migrate
from openband.store.schema import metadata
from tests.support.backends import create_pg_schema, drop_pg_schema, postgres_base_url

_PG = postgres_base_url()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/openband.db"
        return
    if _PG is None:
        pytest.skip("no PostgreSQL")
    made, schema = create_pg_schema(_PG)
    try:
        yield made
    finally:
        drop_pg_schema(_PG, schema)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _diff(url: str) -> list[object]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def _index_def(url: str, name: str) -> str:
    """The index's definition as the database keeps it (alembic does not compare predicates)."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                q = "SELECT indexdef FROM pg_indexes WHERE indexname = :n AND schemaname = current_schema()"
            else:
                q = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
            return str(conn.execute(text(q), {"n": name}).scalar_one())
    finally:
        engine.dispose()


def _foreign_keys(url: str, table: str) -> list[str]:
    engine = make_sync_engine(url)
    try:
        return [fk["name"] or "" for fk in inspect(engine).get_foreign_keys(table)]
    finally:
        engine.dispose()


def test_one_head() -> None:
    assert len(ScriptDirectory.from_config(_config()).get_heads()) == 1


def test_migrations_match_the_schema_and_the_newest_one_reverses(url: str) -> None:
    migrate(url)
    assert _diff(url) == []
    # The hot tables carry no foreign keys (0009); the others keep theirs.
    assert _foreign_keys(url, "messages") == []
    assert _foreign_keys(url, "message_recipients") == []
    assert _foreign_keys(url, "callback_attempts") == []
    assert _foreign_keys(url, "phone_numbers")
    # The due index holds only recipients still to send (0010).
    assert "WHERE send_at IS NOT NULL" in _index_def(url, "ix_msgrcpt_due").replace(
        "(", ""
    ).replace(")", "")
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
        assert "WHERE" not in _index_def(url, "ix_msgrcpt_due")
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
    assert _diff(url) == []
