"""callback delivery: the outbox and its attempts

Revision ID: 0003_callbacks
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_callbacks"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("ordering_key", sa.String(length=160), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("auth_user", sa.String(length=255), nullable=True),
        sa.Column("auth_password", sa.String(length=255), nullable=True),
        sa.Column("signing_secret", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_events")),
    )
    op.create_index(
        "ix_callback_events_due", "callback_events", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_callback_events_order",
        "callback_events",
        ["ordering_key", "status", "seq"],
        unique=False,
    )
    op.create_index("ix_callback_events_message", "callback_events", ["message_id"], unique=False)
    op.create_table(
        "callback_attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["callback_events.id"],
            name=op.f("fk_callback_attempts_event_id_callback_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    op.create_index(
        "ix_callback_attempts_event", "callback_attempts", ["event_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_callback_attempts_event", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index("ix_callback_events_message", table_name="callback_events")
    op.drop_index("ix_callback_events_order", table_name="callback_events")
    op.drop_index("ix_callback_events_due", table_name="callback_events")
    op.drop_table("callback_events")
