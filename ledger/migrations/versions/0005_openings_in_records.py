"""Subject openings move into their records' rows: ``records.pseudonym`` and ``records.salt``
(NULL once erased) with the index ``records_by_pseudonym``, replacing the table
``subject_openings`` and its two indexes. A report then inserts into two random-key indexes
(commitment, pseudonym) instead of three.

Openings whose commitment names no record are not carried over: no lookup could reach them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("pseudonym", sa.LargeBinary(36), nullable=True))
        batch.add_column(sa.Column("salt", sa.LargeBinary(32), nullable=True))
    op.execute(
        "UPDATE records SET "
        "pseudonym = (SELECT so.pseudonym FROM subject_openings AS so "
        "WHERE so.commitment = records.subject_commitment), "
        "salt = (SELECT so.salt FROM subject_openings AS so "
        "WHERE so.commitment = records.subject_commitment)"
    )
    op.create_index("records_by_pseudonym", "records", ["pseudonym"])
    op.drop_index("openings_by_pseudonym", "subject_openings")
    op.drop_table("subject_openings")


def downgrade() -> None:
    op.create_table(
        "subject_openings",
        sa.Column("commitment", sa.LargeBinary(32), primary_key=True),
        sa.Column("pseudonym", sa.LargeBinary(36), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("openings_by_pseudonym", "subject_openings", ["pseudonym"])
    op.execute(
        "INSERT INTO subject_openings (commitment, pseudonym, salt) "
        "SELECT subject_commitment, pseudonym, salt FROM records WHERE pseudonym IS NOT NULL"
    )
    op.drop_index("records_by_pseudonym", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("salt")
        batch.drop_column("pseudonym")
