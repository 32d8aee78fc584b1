"""Settings, read once from ``CONNECTOR_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic import field_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

from connector.security import private_dir

#: Where the embedded default keeps its files, relative to the working directory.
VAR_DIR = Path("var")


def default_database_url() -> str:
    return f"sqlite:///{VAR_DIR / 'connector.db'}"


class Settings(BaseSettings):
    """Every setting of the connector; environment variables are ``CONNECTOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CONNECTOR_", extra="ignore")

    #: SQLAlchemy URL; SQLite under ./var/ by default, PostgreSQL for scale-out.
    database_url: str = Field(default_factory=default_database_url)
    #: Redis for realtime fan-out across processes; in-process fan-out when unset.
    redis_url: str | None = None
    #: Any string of 32 characters or more; keys encryption and signed links.
    secret_key: str | None = None
    #: Public base URL of this deployment (used in links and manifests).
    base_url: str = "http://127.0.0.1:8000"
    #: smtp://user:pass@host:port for e-mail notices.
    smtp_url: str | None = None
    #: Largest accepted request body in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Refuse platform webhook URLs on private, loopback, link-local or shared addresses
    #: (``0``: allow them, for a chat platform on the same network).
    webhook_deny_private: bool = True
    #: Run Alembic migrations when ``serve`` starts (always on for SQLite).
    migrate_on_start: bool = True
    #: How long a process trusts an API key lookup, in seconds (0: every request asks the
    #: database). A key revoked in the database stops working after at most this long.
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    #: Open ``/v1/stream`` sockets one API key may hold in one process (each holds a server
    #: thread); past it, 429 ``too_many_streams``.
    stream_max_per_key: int = Field(default=4, ge=1)
    #: ... and all keys of one workspace together.
    stream_max_per_workspace: int = Field(default=12, ge=1)
    #: Failed console password sign-ins allowed per account, and per client address, in a
    #: moving window (``limits`` notation); past either, 429 until the window moves on.
    signin_limit_per_account: str = "5 per 15 minutes"
    signin_limit_per_address: str = "30 per 15 minutes"
    #: Serve the demo shopper widget at /demo (turn off in production).
    demo_widget: bool = True
    #: How long a demo widget link (and the streams it opens) works, in seconds (1 day).
    demo_link_seconds: int = Field(default=24 * 3600, ge=60)
    #: Run a delivery worker thread inside each ``serve`` process.
    embedded_worker: bool = True
    #: Attempts before a delivery is dead (kept, replayable).
    delivery_max_attempts: int = Field(default=10, ge=1)
    #: First retry delay and the largest one, in seconds (exponential, with jitter).
    delivery_backoff_base: float = Field(default=1.0, gt=0)
    delivery_backoff_cap: float = Field(default=600.0, gt=0)
    #: Timeout of one outbound HTTP call, in seconds.
    delivery_timeout: float = Field(default=10.0, gt=0)
    #: A claim older than this is taken to be a dead worker's and claimed again.
    delivery_lease_seconds: float = Field(default=120.0, gt=0)
    #: How often an idle worker looks for due deliveries, in seconds.
    delivery_poll_interval: float = Field(default=0.2, gt=0)
    #: Deliveries claimed at once.
    delivery_batch: int = Field(default=20, ge=1)
    #: Tasks of one conversation queued one behind the other (agents' replies, say) that a
    #: worker claims together and stores in one transaction (1: each on its own).
    delivery_run: int = Field(default=50, ge=1)
    #: The scenario detector, as "module:callable" returning an object with
    #: ``evaluate(message, scenarios, history)``; the built-in offline one by default.
    detector: str = "connector.detection:default_detector"
    #: Outbound calls one worker makes at once (each to a different conversation).
    delivery_concurrency: int = Field(default=8, ge=1)

    #: Where files that agents send (from Slack, say) are kept until they expire.
    attachments_dir: Path = VAR_DIR / "attachments"
    #: How long a link to such a file works, in seconds (7 days by default).
    attachment_link_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    #: Largest file fetched from a tool for the shopper, in bytes.
    attachment_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("CONNECTOR_SECRET_KEY must be at least 32 characters long")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_secret_key(settings: Settings) -> str:
    """The secret key: the configured one, else one kept in ``./var/secret_key``.

    The embedded default generates a key on first start so ``make run`` works with no
    configuration; a scaled-out deployment must set ``CONNECTOR_SECRET_KEY`` on every
    process so they agree.
    """
    if settings.secret_key:
        return settings.secret_key
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    private_dir(VAR_DIR)  # ./var/ and what is in it: its owner's only
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key

