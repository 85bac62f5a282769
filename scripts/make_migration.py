"""Generate an Alembic revision by comparing schema.py with a database migrated to head.

.venv/bin/python scripts/make_migration.py "add messages table" [--rev-id 0002]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from openband.store.db import MIGRATIONS_DIR, make_sync_engine, migrate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("message")
    ap.add_argument("--rev-id")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'm.db'}"
        migrate(url)
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        engine = make_sync_engine(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message=args.message, autogenerate=True, rev_id=args.rev_id)
        engine.dispose()


if __name__ == "__main__":
    main()
