"""Persistence: the SQLAlchemy models, column types, the Database with its session
factories and guards, pagination, and the Alembic migrations.
"""
