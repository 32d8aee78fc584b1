"""What the connector needs on the Intercom side, checked and made idempotently.

The API creates contact attributes but not conversation ones (``POST /data_attributes``
takes ``model: contact | company``), so ``shopper_email`` is made here and
``handover_conversation_id`` must exist already (Intercom settings > Data > Conversation
data, type Text); :func:`configure` says so when it does not.
"""

from __future__ import annotations

import typing as t

from connector.plugins import GiveUp
from connector.plugins import Health
from handover_intercom import sdk
from handover_intercom.client import calling
from handover_intercom.client import intercom_client
from handover_intercom.settings import IntercomSettings

CONTACT_EMAIL_ATTRIBUTE = "shopper_email"
CONVERSATION_ATTRIBUTE = "handover_conversation_id"


def whoami(settings: IntercomSettings, timeout: float) -> str:
    """Who the token belongs to and whom notes are written as, in words (raises what went wrong)."""
    ic = intercom_client(settings, timeout)
    with calling("GET /me"):
        me = ic.admins.identify()
    if me is None:
        raise GiveUp("GET /me: Intercom named no admin for this token")
    with calling(f"admin {settings.admin_id}"):
        admin = ic.admins.find(int(settings.admin_id))
    app = getattr(me, "app", None)
    where = f" in {app.name} ({app.id_code})" if app is not None and app.name else ""
    writer = f"; notes are written as {admin.name}" if admin is not None else ""
    return f"authenticated as {me.name} <{me.email}>{where}{writer}"


def check(settings: IntercomSettings, timeout: float) -> Health:
    from connector.plugins import DeliveryError

    try:
        return Health(True, whoami(settings, timeout))
    except DeliveryError as exc:
        return Health(False, exc.reason)


def configure(settings: IntercomSettings, timeout: float) -> dict[str, t.Any]:
    """Check the token and the admin; make ``shopper_email``; insist on ``handover_conversation_id``."""
    whoami(settings, timeout)
    ic = intercom_client(settings, timeout)
    with calling("list contact attributes"):
        contact_attributes = {a.name for a in ic.data_attributes.list(model="contact").data or []}
    if CONTACT_EMAIL_ATTRIBUTE not in contact_attributes:
        with calling(f"create the contact attribute {CONTACT_EMAIL_ATTRIBUTE}"):
            ic.data_attributes.create(request=sdk.CreateDataAttributeRequestOne(
                data_type="string", name=CONTACT_EMAIL_ATTRIBUTE, model="contact"))
    with calling("list conversation attributes"):
        conversation_attributes = {a.name for a in ic.data_attributes.list(model="conversation").data or []}
    if CONVERSATION_ATTRIBUTE not in conversation_attributes:
        raise GiveUp(f"create the conversation data attribute {CONVERSATION_ATTRIBUTE} (type Text) in Intercom "
                     "(Settings > Data > Conversation data), then run this again")
    return {}
