"""Alembic migrations of the service's database (env.py and versions/)."""
