"""The ``connector`` command line."""

from __future__ import annotations

import json
import os
import sys
import typing as t

import click
from sqlalchemy import func
from sqlalchemy import select

from connector.config import VAR_DIR
from connector.config import Settings
from connector.storage import repository
from connector.storage.database import Database
from connector.storage.models import Workspace

DEMO_KEY_FILE = VAR_DIR / "demo-api-key"


def load_settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """Handover Connector: hand AI shopping-assistant conversations to humans and back."""


# -- serve -------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Web processes.")
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per web process.")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app (gunicorn) on HOST:PORT."""
    from connector.server import run_gunicorn

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    if settings.is_sqlite or settings.migrate_on_start:
        db.upgrade()
    api_key = ensure_demo_workspace(db)
    db.dispose()
    click.echo(f"Handover Connector listening on http://{host}:{port}")
    click.echo(f"  API docs:    http://{host}:{port}/v1/openapi.json")
    if api_key:
        click.echo(f"  Demo API key: {api_key}")
        click.echo(f"  Try: curl -H 'Authorization: Bearer {api_key}' http://{host}:{port}/v1/conversations")
    sys.stdout.flush()
    run_gunicorn(host=host, port=port, workers=workers, threads=threads)


def ensure_demo_workspace(db: Database) -> str | None:
    """On first start (no workspace at all) create a demo workspace; return its key.

    The key is kept in ``./var/demo-api-key`` (mode 0600) so later starts can print it
    again: the database only has its hash.
    """
    with db.write() as session:
        count = session.scalar(select(func.count()).select_from(Workspace))
        if count == 0:
            _, key = repository.create_workspace(session, "Demo shop", "pro")
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            fd = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
            return key
    if DEMO_KEY_FILE.exists():
        key = DEMO_KEY_FILE.read_text().strip()
        with db.read() as session:
            if repository.api_key_is_valid(session, key):
                return key
    return None


# -- db ----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations."""
    settings = load_settings()
    database = Database.from_url(settings.database_url)
    database.upgrade(revision)
    database.dispose()
    click.echo(f"database at {revision}")


# -- workspace ---------------------------------------------------------------------------


def open_database() -> Database:
    """The configured database; the embedded SQLite default is migrated on the way."""
    settings = load_settings()
    database = Database.from_url(settings.database_url)
    if settings.is_sqlite:
        database.upgrade()
    return database


@main.group()
def workspace() -> None:
    """Workspaces and their API keys."""


@workspace.command("create")
@click.option("--name", required=True)
@click.option("--plan", type=click.Choice(["pro", "basic"]), default="pro", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print {\"id\", \"api_key\"} as JSON.")
def workspace_create(name: str, plan: str, as_json: bool) -> None:
    """Create a workspace and print its id and a new API key (shown once)."""
    database = open_database()
    with database.write() as session:
        row, key = repository.create_workspace(session, name, plan)
        result: dict[str, t.Any] = {"id": row.id, "api_key": key}
    database.dispose()
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"workspace {result['id']} ({plan})\nAPI key: {key}  (shown once; store it now)")
