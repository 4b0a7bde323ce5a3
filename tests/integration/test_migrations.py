"""Alembic creates the schema; the models and the migrations must describe the same one."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from service.db import Database
from service.migrate import current_revision, head_revision
from service.models import Base


def test_database_is_at_head(database: Database) -> None:
    assert current_revision(database.engine) == head_revision()


def test_models_match_migrations(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models changed without a migration: " + repr(differences)
