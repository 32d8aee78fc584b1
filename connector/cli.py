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
from connector.config import load_secret_key
from connector.console.auth import signin_link
from connector.console.demo import nonce_of
from connector.console.demo import revoke as revoke_demo_links
from connector.console.demo import widget_url
from connector.config import Settings
from connector.security import private_dir
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
@click.option("--threads", default=64, show_default=True, type=int, help="Threads per web process for HTTP requests (live WebSockets need none).")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app (gunicorn) on HOST:PORT."""
    from connector.server import run_gunicorn

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    if settings.is_sqlite or settings.migrate_on_start:
        db.upgrade()
    demo = ensure_demo_workspace(db)
    demo_nonce = ""
    if demo:
        with db.read() as session:
            found = repository.get_workspace(session, demo[0])
            demo_nonce = nonce_of(found) if found is not None else ""
    db.dispose()
    base = f"http://{host}:{port}"
    click.echo(f"Handover Connector listening on {base}")
    click.echo(f"  API docs:    {base}/v1/openapi.json")
    if demo:
        workspace_id, api_key = demo
        secret_key = load_secret_key(settings)
        click.echo(f"  Demo API key: {api_key}")
        click.echo(f"  Console sign-in (one-time link, 15 minutes): {signin_link(secret_key, base, workspace_id)}")
        if settings.demo_widget:
            click.echo(f"  Demo shopper widget: {widget_url(secret_key, base, workspace_id, demo_nonce)}")
        click.echo(f"  Try: curl -H 'Authorization: Bearer {api_key}' {base}/v1/conversations")
    sys.stdout.flush()
    run_gunicorn(host=host, port=port, workers=workers, threads=threads)


def ensure_demo_workspace(db: Database) -> tuple[str, str] | None:
    """On first start (no workspace at all) create a demo workspace; return its id and key.

    The key is kept in ``./var/demo-api-key`` (mode 0600) so later starts can print it
    again: the database only has its hash.
    """
    with db.write() as session:
        count = session.scalar(select(func.count()).select_from(Workspace))
        if count == 0:
            workspace, key = repository.create_workspace(session, "Demo shop", "pro")
            private_dir(VAR_DIR)
            fd = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
            return workspace.id, key
    if DEMO_KEY_FILE.exists():
        key = DEMO_KEY_FILE.read_text().strip()
        with db.read() as session:
            workspace = repository.workspace_for_key(session, key)
        if workspace is not None:
            return workspace.id, key
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


@workspace.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of {\"id\", \"name\", \"plan\", \"created_at\"}.")
def workspace_list(as_json: bool) -> None:
    """List workspaces, oldest first: id, plan, name (the id is what `admin link` takes)."""
    from connector.representations import timestamp

    database = open_database()
    with database.read() as session:
        rows = [
            {"id": row.id, "name": row.name, "plan": row.plan, "created_at": timestamp(row.created_at)}
            for row in session.scalars(select(Workspace).order_by(Workspace.pk))
        ]
    database.dispose()
    if as_json:
        click.echo(json.dumps(rows))
    elif not rows:
        click.echo("no workspaces yet; create one with `connector workspace create --name NAME`")
    else:
        for row in rows:
            click.echo(f"{row['id']}\t{row['plan']}\t{' '.join(row['name'].split())}")  # one line each


# -- admin -------------------------------------------------------------------------------


@main.group()
def admin() -> None:
    """Console admins and sign-in links."""


def existing_workspace(database: Database, workspace_id: str) -> Workspace:
    """The workspace WORKSPACE names, or the command ends with a message saying how to find one."""
    with database.read() as session:
        found = repository.get_workspace(session, workspace_id)
    if found is None:
        raise click.ClickException(f"no workspace {workspace_id!r} (`connector workspace list` shows them)")
    return found


@admin.command("link")
@click.argument("workspace_id", metavar="WORKSPACE")
def admin_link(workspace_id: str) -> None:
    """Print a one-time console sign-in URL (valid 15 minutes)."""
    settings = load_settings()
    existing_workspace(open_database(), workspace_id)
    click.echo(signin_link(load_secret_key(settings), settings.base_url, workspace_id))


@admin.command("create")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.password_option(help="Asked for when not given.")
def admin_create(workspace_id: str, email: str, name: str, password: str) -> None:
    """Add an admin who signs in to the console with e-mail and password."""
    from sqlalchemy.exc import IntegrityError

    from connector.console.auth import create_admin

    if len(password) < 10:
        raise click.BadParameter("use at least 10 characters", param_hint="--password")
    try:
        created = create_admin(open_database(), workspace_id, email, name, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except IntegrityError:
        raise click.ClickException(f"an admin with e-mail {email} exists already") from None
    click.echo(f"admin {created.id} ({created.email}) can sign in at {load_settings().base_url}/console/signin")


# -- worker ------------------------------------------------------------------------------


@main.group()
def demo() -> None:
    """The demo shopper widget's links."""


@demo.command("link")
@click.argument("workspace_id", metavar="WORKSPACE")
@click.option("--revoke", is_flag=True, help="First make every earlier link (and its open chats) stop working.")
def demo_link(workspace_id: str, revoke: bool) -> None:
    """Print a widget link for WORKSPACE (it expires after CONNECTOR_DEMO_LINK_SECONDS)."""
    settings = load_settings()
    database = open_database()
    found = existing_workspace(database, workspace_id)
    nonce = revoke_demo_links(database, found) if revoke else nonce_of(found)
    if revoke:
        click.echo("Earlier demo widget links no longer work.")
    click.echo(widget_url(load_secret_key(settings), settings.base_url, workspace_id, nonce))


@main.command()
@click.option("--metrics-port", type=int, default=None, help="Serve this worker's own /metrics on this port.")
def worker(metrics_port: int | None) -> None:
    """Deliver the outbox (run any number of these next to `serve` when scaled out)."""
    import signal
    import threading

    from connector.app import build_connector
    from connector.delivery.worker import DeliveryWorker

    settings = load_settings()
    connector = build_connector(settings)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from connector.metrics import PROCESS

        start_http_server(metrics_port, addr="127.0.0.1", registry=PROCESS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    delivery_worker = DeliveryWorker(connector)
    click.echo(f"delivery worker {delivery_worker.worker_id} started")
    delivery_worker.run(stop)


# -- integrations ------------------------------------------------------------------------


def _connector_and_workspace(workspace_id: str) -> tuple[t.Any, Workspace]:
    from connector.app import build_connector

    connector = build_connector(load_settings(), db=open_database())
    return connector, existing_workspace(connector.db, workspace_id)


@main.group()
def integration() -> None:
    """Plugin settings per workspace (stored encrypted; secrets are never printed)."""


@integration.command("set")
@click.argument("workspace_id", metavar="WORKSPACE")
@click.argument("plugin")
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE...")
def integration_set(workspace_id: str, plugin: str, pairs: tuple[str, ...]) -> None:
    """Store (merge) a plugin's settings for a workspace."""
    from connector.integrations import SettingsError
    from connector.integrations import settings_for_display

    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair.split('=')[0]!r}", param_hint="KEY=VALUE")
        values[key] = value
    from connector.plugins import DeliveryError

    connector, row = _connector_and_workspace(workspace_id)
    try:
        settings = connector.integrations.set_up(connector.db, row, plugin, values, connector.settings.base_url,
                                                 connector.settings.delivery_timeout)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except DeliveryError as exc:
        raise click.ClickException(f"{plugin} set-up failed, nothing was saved: {exc.reason}") from None
    click.echo(f"{plugin} settings saved for {workspace_id}: {json.dumps(settings_for_display(settings))}")
    install = connector.plugins.get(plugin).install_url(workspace_id)
    if install:
        click.echo(f"to install it through OAuth, open (valid for an hour): {install}")


@integration.command("test")
@click.argument("workspace_id", metavar="WORKSPACE")
@click.argument("plugin")
def integration_test(workspace_id: str, plugin: str) -> None:
    """Check a plugin's stored settings against the vendor."""
    from connector.integrations import SettingsError

    connector, row = _connector_and_workspace(workspace_id)
    with connector.db.read() as session:
        stored = connector.integrations.row(session, row.pk, plugin)
    try:
        health = connector.integrations.run_check(connector.db, row.pk, plugin, connector.settings.delivery_timeout)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if health is None:
        raise click.ClickException(f"{plugin} is not set up for {workspace_id}")
    if stored is not None and stored.health == "unhealthy" and stored.health_reason:
        click.echo(f"last delivery failure: {stored.health_reason}")
    click.echo(f"{plugin}: {'ok' if health.ok else 'FAILED'} - {health.detail}")
    if not health.ok:
        install = connector.plugins.get(plugin).install_url(workspace_id)
        if install:
            click.echo(f"to install it through OAuth, open (valid for an hour): {install}")
        sys.exit(1)


@integration.command("list")
@click.argument("workspace_id", metavar="WORKSPACE")
def integration_list(workspace_id: str) -> None:
    """The workspace's integrations, their health and settings (secrets masked)."""
    from connector.integrations import settings_for_display

    connector, row = _connector_and_workspace(workspace_id)
    with connector.db.read() as session:
        for item in connector.integrations.installed(session, row.pk):
            settings = connector.integrations.load(session, row.pk, item.plugin)
            reason = f" ({item.health_reason})" if item.health_reason else ""
            click.echo(f"{item.plugin}\t{item.health}{reason}\t{json.dumps(settings_for_display(settings))}")
    click.echo(f"installed plugins: {', '.join(connector.plugins.names()) or 'none'}")


@integration.command("remove")
@click.argument("workspace_id", metavar="WORKSPACE")
@click.argument("plugin")
@click.option("--force", is_flag=True, help="Forget the settings even if the vendor-side clean-up fails.")
def integration_remove(workspace_id: str, plugin: str, force: bool) -> None:
    """Undo the vendor-side set-up (webhooks, triggers) and forget a plugin's settings."""
    from connector.integrations import SettingsError
    from connector.plugins import DeliveryError

    connector, row = _connector_and_workspace(workspace_id)
    try:
        removed = connector.integrations.tear_down(connector.db, row.pk, plugin, connector.settings.delivery_timeout, force)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except DeliveryError as exc:
        raise click.ClickException(f"{plugin} clean-up failed, nothing removed (use --force): {exc.reason}") from None
    if not removed:
        raise click.ClickException(f"{plugin} is not set up for {workspace_id}")
    click.echo(f"{plugin} removed from {workspace_id}")


# -- manifests ---------------------------------------------------------------------------


@main.group()
def manifests() -> None:
    """The files admins install in their tools (Slack app manifest, Zendesk app)."""


@manifests.command("render")
@click.option("--base-url", required=True, help="The deployment's public URL, e.g. https://handover.example.com")
@click.option("--out", "out_dir", default="manifests-rendered", show_default=True, type=click.Path(file_okay=False))
def manifests_render(base_url: str, out_dir: str) -> None:
    """Write every installed plugin's install files, filled in with BASE_URL, under OUT."""
    from pathlib import Path

    from connector.plugin_registry import PluginRegistry

    if not base_url.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https:// (or http:// for local tests)", param_hint="--base-url")
    out = Path(out_dir)
    written = 0
    for plugin in PluginRegistry.from_entry_points():
        for relative, content in sorted(plugin.manifests(base_url.rstrip("/")).items()):
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            click.echo(f"wrote {target}")
            written += 1
    if not written:
        raise click.ClickException("no installed plugin has install files")


# -- deliveries --------------------------------------------------------------------------


@main.group()
def deliveries() -> None:
    """The outbox: list deliveries, replay dead ones."""


@deliveries.command("list")
@click.option("--failed", is_flag=True, help="Only dead deliveries and pending ones that have failed.")
@click.option("--limit", default=100, show_default=True)
def deliveries_list(failed: bool, limit: int) -> None:
    """Newest first: id, plugin, action, status, attempts, last error."""
    from connector.delivery import outbox

    database = open_database()
    with database.read() as session:
        rows = outbox.list_deliveries(session, statuses=("dead", "pending") if failed else None, limit=limit)
    for row in rows:
        if failed and row.status == "pending" and row.attempts == 0:
            continue
        click.echo(f"{row.id}\t{row.plugin}\t{row.action}\t{row.status}\t{row.attempts}\t{row.last_error or ''}")


@deliveries.command("retry")
@click.argument("delivery_id")
def deliveries_retry(delivery_id: str) -> None:
    """Replay a dead delivery (attempts start again)."""
    from connector.delivery import outbox

    database = open_database()
    with database.write() as session:
        replayed = outbox.replay(session, delivery_id)
    if not replayed:
        raise click.ClickException(f"{delivery_id} is not a dead delivery")
    click.echo(f"{delivery_id} queued again")
