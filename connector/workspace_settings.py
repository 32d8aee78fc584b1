"""A workspace's settings sections (handover ability, notifications), for the API and the console."""

from __future__ import annotations

import typing as t

from connector import domain
from connector.storage import repository
from connector.storage.database import Database
from connector.storage.models import Workspace


def read_section(workspace: Workspace, name: str) -> dict[str, t.Any]:
    return (workspace.settings or {}).get(name) or repository.default_settings()[name]


def store_section(db: Database, workspace: Workspace, name: str, value: dict[str, t.Any]) -> None:
    """Replace one section; the caller's ``workspace`` object is updated too."""
    with db.write() as session:
        row = session.get(Workspace, workspace.pk)
        row.settings = {**(row.settings or {}), name: value}
    workspace.settings = {**(workspace.settings or {}), name: value}


#: a scenario's sensitivity when it sets none: precision first where a fire pauses the AI
SENSITIVITY_BY_MODE = {"automate": "low", "semi_automate": "medium"}


def default_sensitivity(mode: str) -> str:
    """The sensitivity of scenarios that set none, for the workspace's handover ``mode``."""
    return SENSITIVITY_BY_MODE.get(mode, "low")


def may_enable_handover(workspace: Workspace) -> bool:
    """Only plans with the Handover to human ability may switch it on."""
    return domain.HANDOVER_TO_HUMAN in (workspace.abilities or ())


def store_platform_webhook(db: Database, workspace: Workspace, url: str, encrypted_secret: str) -> None:
    """Set where outgoing events go and their (encrypted) signing secret."""
    with db.write() as session:
        row = session.get(Workspace, workspace.pk)
        row.platform_webhook_url = url
        row.platform_webhook_secret = encrypted_secret
    workspace.platform_webhook_url = url
    workspace.platform_webhook_secret = encrypted_secret
