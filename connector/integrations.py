"""Per-workspace plugin settings: validated, encrypted at rest, never shown in clear."""

from __future__ import annotations

import json
import logging
import urllib.parse
import threading
import time
import typing as t

import requests
from pydantic import BaseModel
from pydantic import SecretStr
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.plugin_registry import PluginRegistry
from connector.plugins import Health
from connector.plugins import Integration as Plugin
from connector.plugins.http import new_session
from connector.security import SecretBox
from connector.storage.database import Database
from connector.storage.models import Integration
from connector.storage.models import Workspace
from connector.storage.models import utcnow
from connector.storage.transaction_cache import forget
from connector.storage.transaction_cache import remembered


log = logging.getLogger(__name__)
#: the installed integrations of a workspace, remembered for a transaction
INSTALLED = "installed"


def secret_fields(model: type[BaseModel]) -> set[str]:
    """The names of a settings model's secret fields."""
    return {
        name for name, field in model.model_fields.items()
        if field.annotation is SecretStr or field.annotation == (SecretStr | None)
    }


def settings_for_display(settings: BaseModel) -> dict[str, t.Any]:
    """Settings with every secret masked, safe to print."""
    secrets = secret_fields(type(settings))
    shown: dict[str, t.Any] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        shown[name] = "********" if name in secrets else value
    return shown


class SettingsError(ValueError):
    """Settings a plugin does not accept; ``field`` names the key."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def validate_settings(plugin: Plugin, values: dict[str, t.Any]) -> BaseModel:
    try:
        return plugin.settings_model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise SettingsError(f"{field}: {first['msg']}" if field else first["msg"], field) from None


class IntegrationStore:
    """Reads and writes the ``integrations`` table."""

    def __init__(self, box: SecretBox, registry: PluginRegistry) -> None:
        self.box = box
        self.registry = registry

    def plugin(self, name: str) -> Plugin:
        plugin = self.registry.get(name)
        if plugin is None or plugin.builtin:
            known = ", ".join(self.registry.names()) or "none installed"
            raise SettingsError(f"unknown plugin {name!r} (installed: {known})", "plugin")
        return plugin

    def save(self, session: Session, workspace: Workspace, name: str, values: dict[str, t.Any]) -> BaseModel:
        """Merge ``values`` into the stored settings, validate the whole, encrypt and store."""
        plugin = self.plugin(name)
        row = self.row(session, workspace.pk, name)
        current = self.decrypt(row) if row is not None else {}
        settings = validate_settings(plugin, {**current, **values})
        encrypted = self.box.encrypt(json.dumps(_reveal(settings)))
        if row is None:
            session.add(Integration(workspace_pk=workspace.pk, plugin=name, settings_encrypted=encrypted))
            forget(session, INSTALLED)
        else:
            row.settings_encrypted = encrypted
            row.health, row.health_reason, row.updated_at = "unknown", None, utcnow()
        session.flush()
        return settings

    def set_up(self, db: Database, workspace: Workspace, name: str, values: dict[str, t.Any],
               base_url: str, timeout: float) -> BaseModel:
        """``connector integration set``: validate, let the plugin set the vendor side up, store.

        The plugin's :meth:`~connector.plugins.Integration.configure` runs outside any
        transaction (it calls the vendor) and is idempotent; nothing is stored unless it
        succeeds, and what it returns (ids of what it created) is stored with the settings.
        """
        plugin = self.plugin(name)
        with db.read() as session:
            row = self.row(session, workspace.pk, name)
            current = self.decrypt(row) if row is not None else {}
        merged = {**current, **values}
        settings = validate_settings(plugin, merged)
        extra = plugin.configure(workspace.id, settings, new_session(), timeout, base_url)
        with db.write() as session:
            return self.save(session, workspace, name, {**values, **extra})

    def tear_down(self, db: Database, workspace_pk: int, name: str, timeout: float, force: bool = False) -> bool:
        """``connector integration remove``: undo the vendor-side set-up, then forget the settings."""
        plugin = self.plugin(name)
        with db.read() as session:
            settings = self.load(session, workspace_pk, name)
        if settings is None:
            return False
        try:
            plugin.unconfigure(settings, new_session(), timeout)
        except Exception:
            if not force:
                raise
            log.warning("vendor clean-up failed; removed anyway", extra={"action": "unconfigure_failed", "plugin": name})
        with db.write() as session:
            return self.remove(session, workspace_pk, name)

    def load(self, session: Session, workspace_pk: int, name: str,
             cache: dict[tuple[int, str], tuple[str, BaseModel]] | None = None) -> BaseModel | None:
        """The settings of a workspace's integration, decrypted and validated.

        With ``cache`` (a worker's), they are decrypted once for as long as the stored
        ciphertext stays the same: any change to them is a new ciphertext.
        """
        row = self.row(session, workspace_pk, name)
        if row is None:
            return None
        if cache is not None:
            hit = cache.get((workspace_pk, name))
            if hit is not None and hit[0] == row.settings_encrypted:
                return hit[1]
        settings = validate_settings(self.plugin(name), self.decrypt(row))
        if cache is not None:
            cache[(workspace_pk, name)] = (row.settings_encrypted, settings)
        return settings

    def remove(self, session: Session, workspace_pk: int, name: str) -> bool:
        row = self.row(session, workspace_pk, name)
        if row is None:
            return False
        session.delete(row)
        forget(session, INSTALLED)
        return True

    def installed(self, session: Session, workspace_pk: int) -> list[Integration]:
        """The workspace's integrations whose plugin is loaded in this process; remembered for the transaction."""
        def lookup() -> list[Integration]:
            rows = session.scalars(select(Integration).where(Integration.workspace_pk == workspace_pk))
            return [row for row in rows if self.registry.get(row.plugin) is not None]

        return list(remembered(session, INSTALLED, workspace_pk, lookup))

    def run_check(self, db: Database, workspace_pk: int, name: str, timeout: float) -> Health | None:
        """Check the stored settings against the vendor and record the health; None if not set up."""
        plugin = self.plugin(name)
        with db.read() as session:
            settings = self.load(session, workspace_pk, name)
        if settings is None:
            return None
        try:
            health = plugin.check(settings, new_session(), timeout)
        except requests.RequestException as exc:
            health = Health(False, connection_failure(exc))
        with db.write() as session:
            self.mark_health(session, workspace_pk, name, health.ok, None if health.ok else health.detail)
        return health

    def mark_health(self, session: Session, workspace_pk: int, name: str, ok: bool, reason: str | None) -> None:
        row = self.row(session, workspace_pk, name)
        if row is not None:
            row.health = "ok" if ok else "unhealthy"
            row.health_reason = reason
            row.checked_at = utcnow()

    @staticmethod
    def row(session: Session, workspace_pk: int, name: str) -> Integration | None:
        return session.scalar(
            select(Integration).where(Integration.workspace_pk == workspace_pk, Integration.plugin == name)
        )

    def decrypt(self, row: Integration) -> dict[str, t.Any]:
        return json.loads(self.box.decrypt(row.settings_encrypted))


class SettingsCache:
    """Every workspace's settings of one plugin, decrypted, kept for a few seconds per process.

    For inbound hooks that must find which workspace's secret signed a request before
    they know the workspace: one query and a decryption per workspace every ``seconds``,
    not per request. ``refresh=True`` reads again if the copy is older than a second (an
    integration set up a moment ago), so a stream of bad signatures cannot hammer the
    database.
    """

    def __init__(self, store: IntegrationStore, db: Database, plugin: str, seconds: float = 10.0) -> None:
        self.store = store
        self.db = db
        self.plugin = plugin
        self.seconds = seconds
        self._lock = threading.Lock()
        self._known: list[tuple[int, BaseModel]] = []
        self._loaded_at = -float("inf")

    def all(self, refresh: bool = False) -> list[tuple[int, BaseModel]]:
        """``[(workspace pk, settings)]`` of every workspace with this plugin set up."""
        now = time.monotonic()
        with self._lock:
            stale = now - self._loaded_at > (1.0 if refresh else self.seconds)
        if stale:
            known = []
            with self.db.read() as session:
                for row in session.scalars(select(Integration).where(Integration.plugin == self.plugin)):
                    try:
                        known.append((row.workspace_pk, self.store.load(session, row.workspace_pk, row.plugin)))
                    except SettingsError:
                        log.warning("stored settings no longer valid", extra={"action": "settings_invalid",
                                                                             "plugin": self.plugin})
            with self._lock:
                self._known, self._loaded_at = known, now
        with self._lock:
            return list(self._known)


def connection_failure(exc: requests.RequestException) -> str:
    """A failed call in words: the URL tried (without its query) and the cause, never a secret."""
    url = getattr(exc.request, "url", None) if exc.request is not None else None
    where = ""
    if url:
        parts = urllib.parse.urlsplit(url)
        where = f" {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
    if isinstance(exc, requests.Timeout):
        cause = "timed out"
    elif isinstance(exc, requests.exceptions.SSLError):
        cause = "TLS failed (certificate?)"
    elif isinstance(exc, requests.ConnectionError):
        text = str(exc).lower()
        cause = ("no such host (check the domain or api_base_url)" if "name or service" in text or "nodename" in text
                 or "getaddrinfo" in text else "connection refused or reset (is the URL right, is it up?)")
    else:
        cause = type(exc).__name__
    return f"could not reach{where}: {cause}"


def _reveal(settings: BaseModel) -> dict[str, t.Any]:
    """The settings as JSON with secrets in clear: only ever encrypted, never shown."""
    values = settings.model_dump(mode="json", exclude_none=True)
    for name in secret_fields(type(settings)):
        secret = getattr(settings, name)
        if secret is not None:
            values[name] = secret.get_secret_value()
    return values
