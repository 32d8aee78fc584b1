"""Signed, expiring, single-use links in e-mails: "Take over" and "Let the AI continue"."""

from __future__ import annotations

import secrets
import typing as t

from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from connector.storage.database import Database
from connector.storage.models import Receipt
from connector.storage.models import utcnow

SALT = "email-action"
#: how long a link in an e-mail works, in seconds
MAX_AGE = 24 * 3600
ACTIONS = ("take_over", "let_ai_continue")


class LinkError(Exception):
    """Expired, forged or already used; ``str()`` is what the page says."""


def action_link(secret_key: str, base_url: str, workspace_id: str, conversation_id: str, action: str) -> str:
    token = URLSafeTimedSerializer(secret_key, salt=SALT).dumps(
        {"ws": workspace_id, "conv": conversation_id, "action": action, "nonce": secrets.token_urlsafe(12)}
    )
    return f"{base_url.rstrip('/')}/hooks/email/{token}"


def read_link(secret_key: str, token: str) -> dict[str, t.Any]:
    """What a link asks for, without spending it."""
    try:
        data = URLSafeTimedSerializer(secret_key, salt=SALT).loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise LinkError("This link has expired. Open the conversation in the console instead.") from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    if data.get("action") not in ACTIONS:
        raise LinkError("This link is not valid.")
    return data


def spend(db: Database, nonce: str) -> None:
    """Mark a link used; a second use raises LinkError."""
    try:
        with db.write() as session:
            session.add(Receipt(source="email-link", key=nonce, received_at=utcnow()))
    except IntegrityError:
        raise LinkError("This link was already used; nothing was changed.") from None
