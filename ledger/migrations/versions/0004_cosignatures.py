"""Witnesses' cosignatures of checkpoints, for both logs; the open-dispute date of records
(for dispute deadlines).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("log", sa.String(16), primary_key=True),
        sa.Column("tree_size", sa.BigInteger, primary_key=True),
        sa.Column("witness", sa.String(128), primary_key=True),
        sa.Column("signature_line", sa.Text, nullable=False),
        sa.Column("cosigned_at", sa.BigInteger, nullable=False),
    )

    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("dispute_opened_on", sa.String(10), nullable=True))
    op.create_index("records_by_open_dispute", "records", ["dispute_opened_on"])


def downgrade() -> None:
    op.drop_index("records_by_open_dispute", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("dispute_opened_on")
    op.drop_table("cosignatures")
