"""Issue 14, item 8: ./var/ and what the connector keeps in it are readable by their owner only."""

from __future__ import annotations

import os
import stat
from email.message import EmailMessage

from connector.attachments import AttachmentStore
from connector.config import Settings
from connector.config import load_secret_key
from connector.notifications.mailer import Mailer
from connector.storage.database import Database


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_var_and_everything_in_it_is_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)  # the usual umask of a shell
    try:
        key = load_secret_key(Settings(secret_key=None))
        database = Database.from_url("sqlite:///var/connector.db")
        database.upgrade()
        database.dispose()
        store = AttachmentStore(tmp_path / "var" / "attachments", key, "https://c.example", 3600)
        store.save("ws_1", "label.pdf", "application/pdf", [b"%PDF"], max_bytes=100)
        message = EmailMessage()
        message["To"], message["Subject"], message["Message-ID"] = "a@example.com", "Hi", "<m1@x>"
        message.set_content("take over: https://c.example/t/secret-link")
        Mailer(None, mail_dir=tmp_path / "var" / "mail").send(message)
    finally:
        os.umask(old)
    var = tmp_path / "var"
    assert mode(var) == 0o700
    everything = list(var.rglob("*"))
    assert any(p.name == "connector.db" for p in everything) and any(p.suffix == ".eml" for p in everything)
    for path in everything:
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, f"{path.relative_to(tmp_path)} is {oct(mode(path))}"
