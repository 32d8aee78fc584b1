"""The shopper as a Zendesk requester, without ever taking over an existing user."""

from __future__ import annotations

import typing as t

from zenpy.lib.api_objects import User

from handover_zendesk.client import calling_zendesk


def requester(zd: t.Any, session: t.Any, conversation: dict[str, t.Any]) -> tuple[int, str | None]:
    """The shopper as an end user: ours by external id, or a new one; and the e-mail left off, if any.

    The shopper's e-mail address is unverified, so it never selects an existing Zendesk
    user (``create_or_update`` alone would match by e-mail and rename, demote and speak
    for whoever has it, an agent included). Our own external id is the only match; when
    the address already belongs to someone, the new requester is created without it.
    """
    shopper = conversation.get("shopper") or {}
    email = (shopper.get("email") or "").strip().lower() or None
    external = f"handover-shopper:{email or conversation['id']}"
    with calling_zendesk("find requester", session):
        ours = [u for u in zd.users.search(external_id=external) if getattr(u, "external_id", None) == external]
    for user in ours:
        if user.role == "end-user":
            return user.id, None  # never renamed or re-roled: it is ours and stays as it is
    withheld = None
    if email:
        with calling_zendesk("find user by e-mail", session):
            holders = [u for u in zd.users.search(query=f"email:{email}")
                       if (getattr(u, "email", None) or "").lower() == email]
        if holders:
            withheld, email = shopper.get("email"), None
    if ours:  # our external id on an agent (set by hand): leave that user alone
        external = f"{external}:{conversation['id']}"
    user = User(name=shopper.get("name") or shopper.get("email") or "Shopper", external_id=external, role="end-user")
    if email:
        user.email = email
    with calling_zendesk("create requester", session):
        return zd.users.create_or_update(user).id, withheld
