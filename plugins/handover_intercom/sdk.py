"""The SDK's request types, loaded on first use (``sdk.CreateConversationRequestFrom(...)``).

python-intercom's models take a noticeable time to import; the web process (which only
verifies and persists Intercom's requests) never needs them, the worker loads them once.
"""

from __future__ import annotations

import importlib
import typing as t

_WHERE = {
    "AdminReplyConversationRequest": "intercom",
    "ContactReplyIntercomUserIdRequest": "intercom",
    "CreateContactRequestWithExternalId": "intercom",
    "CreateOrUpdateTagRequest": "intercom",
    "CreateDataAttributeRequestOne": "intercom",
    "ConversationsManageRequestBody_Close": "intercom.conversations",
    "ConversationsManageRequestBody_Open": "intercom.conversations",
    "CreateConversationRequestFrom": "intercom.conversations",
}


def __getattr__(name: str) -> t.Any:
    if name not in _WHERE:
        raise AttributeError(name)
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
