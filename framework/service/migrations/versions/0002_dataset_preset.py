"""Jobs on a dataset preset: jobs.training_file nullable, jobs.dataset_preset added.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot alter a column in place (Alembic copies the table there)
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("training_file", existing_type=sa.String(64), nullable=True)
        batch.add_column(sa.Column("dataset_preset", sa.String(128), nullable=True))


def downgrade() -> None:
    """Refused while preset jobs exist: their training_file is null, which 0001 forbids."""
    jobs = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM jobs WHERE dataset_preset IS NOT NULL")
    )
    count = jobs.scalar_one()
    if count:
        raise RuntimeError(
            f"cannot downgrade to 0001: {count} job(s) train on a dataset preset "
            "(training_file is null); delete them first"
        )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("dataset_preset")
        batch.alter_column("training_file", existing_type=sa.String(64), nullable=False)
