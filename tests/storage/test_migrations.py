"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from connector.storage.models import Base


def test_migrations_match_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(database):
    database.upgrade()
    tables = set(inspect(database.engine).get_table_names())
    assert {"workspaces", "api_keys", "conversations", "messages", "events", "links", "deliveries", "receipts"} <= tables


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    from connector.storage.database import Database

    db = Database.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_api_keys_are_stored_hashed(database, make_workspace):
    _, key = make_workspace()
    with database.engine.connect() as connection:
        stored = [row[0] for row in connection.exec_driver_sql("SELECT key_hash FROM api_keys")]
    assert key not in stored
    assert len(stored) == 1 and len(stored[0]) == 64
