"""The projection: members, keys, records, submissions, and the deletable subject index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Index64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "member_keys",
        sa.Column("key_id", sa.LargeBinary(32), primary_key=True),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("added_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "records",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("subject_commitment", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("records_by_commitment", "records", ["subject_commitment"])
    op.create_table(
        "submissions",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("submission_id", sa.String(128), primary_key=True),
        sa.Column("idx", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "subject_openings",
        sa.Column("commitment", sa.LargeBinary(32), primary_key=True),
        sa.Column("pseudonym", sa.LargeBinary(36), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("openings_by_pseudonym", "subject_openings", ["pseudonym"])


def downgrade() -> None:
    op.drop_index("openings_by_pseudonym", "subject_openings")
    op.drop_table("subject_openings")
    op.drop_table("submissions")
    op.drop_index("records_by_commitment", "records")
    op.drop_table("records")
    op.drop_table("member_keys")
    op.drop_table("members")
