"""Alembic environment for the service schema; driven by `persistence.migrate`, no alembic.ini."""
