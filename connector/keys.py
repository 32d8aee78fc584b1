"""API key lookups with a short in-process memory, so each request skips a query."""

from __future__ import annotations

import threading
import time

from connector.storage import repository
from connector.storage.database import Database
from connector.storage.models import Workspace


class ApiKeyCache:
    """Maps an API key (by its hash) to its workspace for ``ttl`` seconds.

    The workspace object is shared by the requests of this process; settings written
    through :mod:`connector.workspace_settings` update it in place, so this process sees
    its own changes at once and other processes within ``ttl``.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Workspace]] = {}

    def get(self, key: str) -> Workspace | None:
        digest = repository.hash_api_key(key)
        now = time.monotonic()
        if self.ttl:
            with self._lock:
                entry = self._entries.get(digest)
            if entry is not None and entry[0] > now:
                return entry[1]
        with self.db.read() as session:
            workspace = repository.workspace_for_key(session, key)
        if workspace is not None and self.ttl:
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[digest] = (now + self.ttl, workspace)
        return workspace
