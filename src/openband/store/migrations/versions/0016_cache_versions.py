"""cache_versions: a counter per kind of cached fact, bumped with every change to it

Caches of who owns a number and how its location and application are set used to live out
their time (5 s) after a change: a number disconnected and bought by another account still sent
for its old owner (issue 12). Every change now bumps `routing` in its own transaction, and each
process empties those caches when the counter moves (core/cache.Generation).

Revision ID: 0016_cache_versions
Revises: 0015_merge_0013_0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_cache_versions"
down_revision = "0015_merge_0013_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "cache_versions",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_versions")),
    )
    op.bulk_insert(table, [{"name": "routing", "version": 0}])


def downgrade() -> None:
    op.drop_table("cache_versions")
