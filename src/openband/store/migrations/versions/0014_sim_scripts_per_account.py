"""sim_handsets: a handset's script belongs to the account that set it

Scripts were platform-wide: one account's PUT /sim/v1/handsets/{n} made another account's
messages to that handset fail (issue 12). The key becomes (account_id, number); "" is the
operator's platform-wide default. Scripts written before this revision keep working as
platform-wide defaults (whoever set them), which the operator can clear with
`openband handsets reset-default`.

Revision ID: 0014_sim_per_account
Revises: 0011_cb_fewer_idx
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_sim_per_account"
down_revision = "0011_cb_fewer_idx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sim_handsets", recreate="always") as batch:
        batch.add_column(sa.Column("account_id", sa.String(32), nullable=False, server_default=""))
        batch.drop_constraint("pk_sim_handsets", type_="primary")
        batch.create_primary_key("pk_sim_handsets", ["account_id", "number"])
    with op.batch_alter_table("sim_handsets") as batch:
        batch.alter_column("account_id", server_default=None)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM sim_handsets WHERE account_id <> ''"))
    with op.batch_alter_table("sim_handsets", recreate="always") as batch:
        batch.drop_constraint("pk_sim_handsets", type_="primary")
        batch.drop_column("account_id")
        batch.create_primary_key("pk_sim_handsets", ["number"])
