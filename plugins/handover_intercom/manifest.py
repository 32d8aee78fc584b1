"""``connector manifests render`` for Intercom: what an admin enters in the Developer Hub."""

from __future__ import annotations

import json

from handover_intercom.events import TOPICS
from handover_intercom.setup import CONTACT_EMAIL_ATTRIBUTE
from handover_intercom.setup import CONVERSATION_ATTRIBUTE

#: the app's permissions (Developer Hub > Configure > Authentication), as Intercom names them
PERMISSIONS = (
    "Read admins",
    "Read and list users and companies",
    "Write users and companies",
    "Read conversations",
    "Write conversations",
    "Read and write data attributes",
    "Read tags",
    "Write tags",
)


def manifests(base_url: str) -> dict[str, bytes]:
    base = base_url.rstrip("/")
    setup = {
        "api_version": "2.14",
        "webhook": {"url": f"{base}/hooks/intercom/webhook", "topics": list(TOPICS)},
        "inbox_app": {"initialize_url": f"{base}/hooks/intercom/canvas/initialize",
                      "submit_url": f"{base}/hooks/intercom/canvas/submit",
                      "location": "Inbox (conversation details)"},
        "permissions": list(PERMISSIONS),
        "conversation_data_attribute": {"name": CONVERSATION_ATTRIBUTE, "type": "Text"},
        "contact_data_attribute": {"name": CONTACT_EMAIL_ATTRIBUTE, "type": "Text",
                                   "note": "created by `connector integration set` if missing"},
        "give_back_tag": "give_back_to_ai",
    }
    steps = f"""# Connect Intercom

1. Developer Hub > New app (internal). Configure > Authentication: turn on these permissions:
   {", ".join(PERMISSIONS)}. Set the app's API version to 2.14 or later. Copy the access token and,
   from Basic information, the client secret.
2. Configure > Webhooks: URL `{setup["webhook"]["url"]}`, topics
   {", ".join(f"`{t}`" for t in TOPICS)}.
3. Canvas Kit > For teammates (Inbox): initialize URL `{setup["inbox_app"]["initialize_url"]}`,
   submit URL `{setup["inbox_app"]["submit_url"]}`; install the app and add it to the inbox's
   conversation details.
4. Settings > Data > Conversation data: create the attribute `{CONVERSATION_ATTRIBUTE}` (Text).
5. `connector integration set WORKSPACE intercom access_token=... client_secret=... admin_id=ADMIN [region=us|eu|au]`
   (ADMIN: the teammate or bot notes are written as), then `connector integration test WORKSPACE intercom`.
"""
    return {
        "intercom/setup.json": (json.dumps(setup, indent=2) + "\n").encode(),
        "intercom/SETUP.md": steps.encode(),
    }
