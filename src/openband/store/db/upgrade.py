"""The schema migration on start (Alembic)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from openband.store.db.engines import make_sync_engine

# store/migrations, beside this package (this file is store/db/upgrade.py).
MIGRATIONS_DIR = Path(__file__).parent.with_name("migrations")


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (Alembic), safe to run from several processes."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Serialise concurrent starts of several nodes on one database.
                conn.execute(text("SELECT pg_advisory_xact_lock(7210001)"))
            cfg.attributes["connection"] = conn
            # Every branch: revisions written side by side each go on from the last shared one.
            command.upgrade(cfg, "heads")
    finally:
        engine.dispose()
