"""calls, call_history, call_recordings: Voice API v2 (issue 13)

Revision ID: 0017_calls
Revises: 0016_cache_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_calls"
down_revision = "0016_cache_versions"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_tn", sa.String(256), nullable=False),
        sa.Column("to_tn", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("parent_call_id", sa.String(64), nullable=True),
        _ts("enqueued_time", True),
        _ts("start_time", True),
        _ts("answer_time", True),
        _ts("end_time", True),
        sa.Column("disconnect_cause", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_id", sa.String(64), nullable=True),
        _ts("last_update"),
        sa.Column("node", sa.String(64), nullable=True),
        _ts("lease_until", True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    op.create_index("ix_calls_account_created", "calls", ["account_id", "created_at"])
    op.create_index(
        "ix_calls_live",
        "calls",
        ["account_id", "lease_until"],
        sqlite_where=sa.text("state != 'disconnected'"),
        postgresql_where=sa.text("state != 'disconnected'"),
    )
    op.create_table(
        "call_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(64), nullable=False),
        _ts("at"),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_history")),
    )
    op.create_index("ix_call_history_call", "call_history", ["call_id", "id"])
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_tn", sa.String(256), nullable=False),
        sa.Column("to_tn", sa.String(256), nullable=False),
        _ts("start_time"),
        _ts("end_time"),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("file_format", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("blob_ref", sa.String(64), nullable=True),
        sa.Column("tag", sa.Text(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
    )
    op.create_index("ix_call_recordings_call", "call_recordings", ["call_id", "start_time"])
    op.create_index("ix_call_recordings_account", "call_recordings", ["account_id", "start_time"])


def downgrade() -> None:
    op.drop_table("call_recordings")
    op.drop_table("call_history")
    op.drop_table("calls")
