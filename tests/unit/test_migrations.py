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


def _index_def(url: str, name: str) -> str | None:
    """The index's definition as the database keeps it (alembic does not compare predicates),
    or None when there is no such index."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                q = "SELECT indexdef FROM pg_indexes WHERE indexname = :n AND schemaname = current_schema()"
            else:
                q = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
            return conn.execute(text(q), {"n": name}).scalar_one_or_none()
    finally:
        engine.dispose()


def _key_collation(url: str) -> str | None:
    """callback_events.ordering_key's collation on PostgreSQL (None: the database default)."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT collation_name FROM information_schema.columns WHERE table_schema ="
                    " current_schema() AND table_name = 'callback_events'"
                    " AND column_name = 'ordering_key'"
                )
            ).scalar_one()
    finally:
        engine.dispose()


def _bare(sql: str | None) -> str:
    return (sql or "").replace("(", "").replace(")", "").replace("::text", "").replace('"', "")


def _foreign_keys(url: str, table: str) -> list[str]:
    engine = make_sync_engine(url)
    try:
        return [fk["name"] or "" for fk in inspect(engine).get_foreign_keys(table)]
    finally:
        engine.dispose()


def test_one_head() -> None:
    assert len(ScriptDirectory.from_config(_config()).get_heads()) == 1


def _columns(url: str, table: str) -> list[str]:
    """The table's primary-key columns first, then the rest, as the database has them."""
    engine = make_sync_engine(url)
    try:
        insp = inspect(engine)
        key = insp.get_pk_constraint(table)["constrained_columns"]
        rest = [c["name"] for c in insp.get_columns(table) if c["name"] not in key]
        return [*key, *rest]
    finally:
        engine.dispose()


def test_migrations_match_the_schema_and_the_newest_ones_reverse(url: str) -> None:
    migrate(url)
    assert _diff(url) == []
    # 0014: a handset's script is an account's (or the operator's default, account "").
    assert _columns(url, "sim_handsets")[:2] == ["account_id", "number"]
    # The hot tables carry no foreign keys (0009); the others keep theirs.
    assert _foreign_keys(url, "messages") == []
    assert _foreign_keys(url, "message_recipients") == []
    assert _foreign_keys(url, "callback_attempts") == []
    assert _foreign_keys(url, "phone_numbers")
    # The due index holds only recipients still to send (0010).
    assert "WHERE send_at IS NOT NULL" in _bare(_index_def(url, "ix_msgrcpt_due"))
    # 0011: no message index (a range of the key index instead, in bytewise order), and the
    # retention sweep's index holds finished events only.
    pg = url.startswith("postgresql")
    assert _index_def(url, "ix_callback_events_message") is None
    assert _index_def(url, "ix_callback_events_created") is None
    finished = _bare(_index_def(url, "ix_callback_events_finished"))
    assert "delivered" in finished and "expired" in finished and "WHERE" in finished
    if pg:
        assert _key_collation(url) == "C"
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0011_cb_fewer_idx")
        assert "account_id" not in _columns(url, "sim_handsets")
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0010_due_partial")
        assert _index_def(url, "ix_callback_events_finished") is None
        assert "WHERE" not in _bare(_index_def(url, "ix_callback_events_created"))
        assert _index_def(url, "ix_callback_events_message") is not None
        if pg:
            assert _key_collation(url) is None
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    finally:
        engine.dispose()
    assert _diff(url) == []
