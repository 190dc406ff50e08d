"""Alembic environment: runs on the connection framework.service.db.migrate hands over."""

from alembic import context

from framework.service.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
