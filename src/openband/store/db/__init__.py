"""Engines for the two supported backends, the schema migration on start, and bulk inserts.

The modules: `engines` (URLs, drivers and per-connection setup), `sqlite_writer` (the SQLite
writer engine on the event loop's thread), `writer_queue` (SQLite writers in line for the
file), `database` (`Database`), `upgrade` (`migrate`), `bulk` (the hot paths' inserts).
"""

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.db.bulk import insert_many, insert_rows, one_of
from openband.store.db.database import Database
from openband.store.db.engines import (
    JSON_CODEC,
    DatabaseUrls,
    UnsupportedDatabase,
    _install_sqlite_hooks,
    make_sync_engine,
    resolve_urls,
)
from openband.store.db.upgrade import MIGRATIONS_DIR, migrate

# An open database transaction: every store function takes one as its first argument, and the
# layers above pass it along without looking inside (a carrier's sink carries one).
Transaction = AsyncConnection

# _install_sqlite_hooks: store/inventory.py's loop-thread read engine takes the same pragmas.
__all__ = [
    "JSON_CODEC",
    "MIGRATIONS_DIR",
    "Database",
    "DatabaseUrls",
    "Transaction",
    "UnsupportedDatabase",
    "_install_sqlite_hooks",
    "insert_many",
    "insert_rows",
    "make_sync_engine",
    "migrate",
    "one_of",
    "resolve_urls",
]
