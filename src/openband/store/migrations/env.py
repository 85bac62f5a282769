"""Alembic environment: always run with a connection handed in by openband.store.db.migrate."""

from __future__ import annotations

from alembic import context

from openband.store.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from openband.store.db import make_sync_engine

        url = config.get_main_option("sqlalchemy.url")
        engine = make_sync_engine(url)
        with engine.begin() as conn:
            _configure(conn)
        engine.dispose()
        return
    _configure(connection)


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
