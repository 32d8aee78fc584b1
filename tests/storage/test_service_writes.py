"""The handover service's own write transactions (SQLAlchemy Core): receipts, refusals, what listeners see."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector import domain
from connector.storage import repository
from connector.storage.models import Message


@pytest.fixture
def shop(connector, make_workspace):
    workspace_id, _ = make_workspace()
    with connector.db.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
    conversation, _ = connector.handover.create_conversation(workspace, shopper_name="Ann")
    return workspace, conversation


def message_count(connector) -> int:
    with connector.db.read() as session:
        return session.scalar(select(func.count()).select_from(Message))


def test_a_receipt_seen_before_stores_nothing_the_second_time(connector, shop):
    workspace, conversation = shop
    service = connector.handover
    service.post_message(workspace, conversation.id, author="shopper", text="hi", receipt=("test", "evt-1"))
    with pytest.raises(IntegrityError):
        service.post_message(workspace, conversation.id, author="shopper", text="hi", receipt=("test", "evt-1"))
    assert message_count(connector) == 1
    assert service.get_conversation(workspace, conversation.id).version == conversation.version + 1


def test_listeners_see_the_stored_rows_and_a_refusal_reaches_none(connector, shop):
    workspace, conversation = shop
    seen = []

    class Recorder:
        def in_transaction(self, session, change):
            if change.message is not None:
                seen.append(("in", change.message.pk, change.message.author_name, change.conversation.version,
                             [e.type for e in change.events]))

        def after_commit(self, change):
            if change.message is not None:
                seen.append(("after", change.message.id))

    service = connector.handover
    service.add_listener(Recorder())
    service.run_command(workspace, conversation.id, domain.Command.HAND_OVER, actor=domain.Actor("human", "Bo"))
    with pytest.raises(domain.Refused):
        service.post_message(workspace, conversation.id, author="ai", text="I can help")
    assert seen == [] and message_count(connector) == 0
    message, updated = service.post_message(workspace, conversation.id, author="human", text="Bo here", author_name="Bo")
    assert seen == [("in", message.pk, "Bo", updated.version, ["human_joined"]), ("after", message.id)]
    shopper, _ = service.post_message(workspace, conversation.id, author="shopper", text="thanks")
    assert shopper.author_name == "Ann" and shopper.pk > message.pk
