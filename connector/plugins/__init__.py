"""The plugin port: the one part of the connector a plugin imports.

* :mod:`connector.plugins.contract`: the :class:`Integration` base a plugin subclasses,
  what the worker hands it (:class:`ThreadRef`, :class:`DeliveryContext`) and what it
  returns or raises (:class:`TaskResult`, :class:`RetryLater`, :class:`Defer`,
  :class:`GiveUp`, :class:`IntegrationBroken`);
* :mod:`connector.plugins.host`: the :class:`Host` the core hands a plugin, and the
  :class:`InboundEvent`\\ s a plugin translates vendor requests into;
* :mod:`connector.plugins.webhooks`: signature checks, URL tokens, error bodies, Retry-After;
* :mod:`connector.plugins.text`: what agents read, and escaping for each tool's markup.

A plugin imports nothing else of ``connector`` (a test walks every plugin's imports).
"""

from connector.plugins import text
from connector.plugins import webhooks
from connector.plugins.contract import Defer
from connector.plugins.contract import DeliveryContext
from connector.plugins.contract import DeliveryError
from connector.plugins.contract import GiveUp
from connector.plugins.contract import Health
from connector.plugins.contract import Integration
from connector.plugins.contract import IntegrationBroken
from connector.plugins.contract import Refusal
from connector.plugins.contract import RetryLater
from connector.plugins.contract import TaskResult
from connector.plugins.contract import ThreadRef
from connector.plugins.host import Action
from connector.plugins.host import AttachmentTooLarge
from connector.plugins.host import ConversationView
from connector.plugins.host import Host
from connector.plugins.host import InboundEvent
from connector.plugins.host import InboundResult
from connector.plugins.host import QueuedTask
from connector.plugins.host import SettingsSource
from connector.plugins.host import WorkspaceKey

ENTRY_POINT_GROUP = "handover_connector.plugins"

__all__ = [
    "Action", "AttachmentTooLarge", "ConversationView", "Defer", "DeliveryContext", "DeliveryError",
    "ENTRY_POINT_GROUP", "GiveUp", "Health", "Host", "InboundEvent", "InboundResult", "Integration",
    "IntegrationBroken", "QueuedTask", "Refusal", "RetryLater", "SettingsSource", "TaskResult", "ThreadRef",
    "WorkspaceKey", "text", "webhooks",
]
