"""Two smaller structures, the same rows:

* ``records_by_open_dispute`` becomes a partial index (``WHERE dispute_opened_on IS NOT
  NULL``): it held an entry for every record, almost all of them NULL, and is read only for
  records with an open dispute. On both engines.
* On SQLite, ``submissions`` becomes a ``WITHOUT ROWID`` table: its rows are its primary key,
  so each submission is stored once, in the key's b-tree, instead of in the table and again in
  the key's automatic index (about 50 bytes an entry, and one b-tree less to insert into for
  every submission). PostgreSQL has no rowid; its tables are left as they are.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOT_NULL = "dispute_opened_on IS NOT NULL"


def _submissions(suffix: str) -> str:
    return (
        "CREATE TABLE submissions (\n"
        "\tmember_id VARCHAR(128) NOT NULL, \n"
        "\tsubmission_id VARCHAR(128) NOT NULL, \n"
        "\tidx BIGINT NOT NULL, \n"
        "\tPRIMARY KEY (member_id, submission_id)\n"
        f"){suffix}"
    )


def _rebuild_submissions(suffix: str) -> None:
    """SQLite cannot change a table's rowid in place: copy the rows into a new table."""
    op.execute("ALTER TABLE submissions RENAME TO submissions_old")
    op.execute(_submissions(suffix))
    op.execute(
        "INSERT INTO submissions (member_id, submission_id, idx) "
        "SELECT member_id, submission_id, idx FROM submissions_old"
    )
    op.execute("DROP TABLE submissions_old")


def upgrade() -> None:
    op.drop_index("records_by_open_dispute", "records")
    op.create_index(
        "records_by_open_dispute",
        "records",
        ["dispute_opened_on"],
        sqlite_where=sa.text(NOT_NULL),
        postgresql_where=sa.text(NOT_NULL),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_submissions(" WITHOUT ROWID")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_submissions("")
    op.drop_index("records_by_open_dispute", "records")
    op.create_index("records_by_open_dispute", "records", ["dispute_opened_on"])
