"""Alembic environment. The connection comes from ``service.persistence.migrate`` (never from an ini)."""

from __future__ import annotations

from alembic import context

from service.persistence.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `jifen db upgrade` (service.persistence.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
