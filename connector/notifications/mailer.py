"""Sending e-mail: SMTP from ``CONNECTOR_SMTP_URL``, or ``.eml`` files under ``./var/mail/``.

URL forms: ``smtp://host:25`` (plain), ``smtp://user:pass@host:587?starttls=1`` or
``smtp+starttls://...`` (STARTTLS), ``smtps://user:pass@host:465`` (TLS). ``?from=``
sets the sender (default ``handover@<host>``). Without a URL, messages are written as
files so ``make run`` works offline; the console lists them.
"""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import ssl
import typing as t
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

from connector.config import VAR_DIR
from connector.plugins import GiveUp
from connector.plugins import RetryLater
from connector.security import private_dir
from connector.security import write_private

MAIL_DIR = VAR_DIR / "mail"


class Mailer:
    """Sends one message; SMTP failures map to RetryLater / GiveUp for the outbox."""

    def __init__(self, smtp_url: str | None, timeout: float = 10.0, mail_dir: Path | None = None) -> None:
        self.smtp_url = smtp_url
        self.timeout = timeout
        self.mail_dir = mail_dir or MAIL_DIR
        parts = urlsplit(smtp_url) if smtp_url else None
        query = parse_qs(parts.query) if parts else {}
        host = parts.hostname if parts else "localhost"
        self.sender = query.get("from", [f"handover@{host}"])[0]
        self._parts = parts
        self._starttls = bool(parts) and (parts.scheme == "smtp+starttls" or query.get("starttls", ["0"])[0] in ("1", "true"))

    def send(self, message: EmailMessage) -> str:
        """Send ``message``; returns where it went (for logs, never a secret)."""
        if "From" not in message:
            message["From"] = self.sender
        if "Date" not in message:
            message["Date"] = email.utils.formatdate(usegmt=True)
        if self._parts is None:
            return self._write_file(message)
        parts = self._parts
        try:
            if parts.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=self.timeout,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=self.timeout)
            with client:
                if self._starttls:
                    client.starttls(context=ssl.create_default_context())
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise GiveUp("SMTP refused every recipient") from None
        except smtplib.SMTPAuthenticationError:
            raise GiveUp("SMTP authentication failed") from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise RetryLater(f"SMTP {exc.smtp_code}") from None
            raise GiveUp(f"SMTP {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryLater(f"SMTP unavailable: {type(exc).__name__}") from None
        return f"smtp {parts.hostname}"

    def _write_file(self, message: EmailMessage) -> str:
        private_dir(self.mail_dir)  # the files hold take-over links: their owner's only
        name = message["Message-ID"].strip("<>").split("@")[0]
        path = self.mail_dir / f"{name}.eml"
        write_private(path, message.as_bytes(policy=email.policy.SMTP))
        return f"file {path}"


def list_mail_files(mail_dir: Path | None = None, limit: int = 20) -> list[dict[str, t.Any]]:
    """The newest ``.eml`` files written without SMTP: name, to, subject."""
    mail_dir = mail_dir or MAIL_DIR
    if not mail_dir.exists():
        return []
    files = sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    parsed = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        parsed.append({"name": path.name, "to": message["To"], "subject": message["Subject"]})
    return parsed
