"""Lookups remembered for one transaction (connector.storage.transaction_cache): asked once,
forgotten by a writer of what they read, by a rolled-back savepoint and at the end."""

from __future__ import annotations

from connector.delivery import outbox
from connector.storage.transaction_cache import forget
from connector.storage.transaction_cache import remembered


def counter():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    return calls, compute


def test_a_lookup_is_made_once_per_transaction_and_forgotten_by_a_writer(database):
    calls, compute = counter()
    with database.write() as session:
        assert remembered(session, "kind", 1, compute) == 1
        assert remembered(session, "kind", 1, compute) == 1
        assert remembered(session, "kind", 2, compute) == 2  # another key
        forget(session, "other kind")
        assert remembered(session, "kind", 1, compute) == 1
        forget(session, "kind")
        assert remembered(session, "kind", 1, compute) == 3
    with database.write() as session:  # a new transaction asks again
        assert remembered(session, "kind", 1, compute) == 4


def test_a_rolled_back_savepoint_forgets_what_was_remembered_inside_and_before_it(database):
    calls, compute = counter()
    with database.write() as session:
        remembered(session, "kind", 1, compute)
        try:
            with session.begin_nested():
                remembered(session, "kind", 1, compute)
                raise RuntimeError("refused")
        except RuntimeError:
            pass
        assert remembered(session, "kind", 1, compute) == 2  # asked again
        with session.begin_nested():  # a savepoint that is released keeps it
            pass
        assert remembered(session, "kind", 1, compute) == 2


def test_a_thread_opened_in_the_transaction_is_seen_by_the_next_change(database, make_workspace):
    from connector.storage import repository
    from connector.storage.models import Conversation

    workspace_id, _ = make_workspace()
    with database.write() as session:
        workspace = repository.get_workspace(session, workspace_id)
        conversation = Conversation(id="conv_cache", workspace_pk=workspace.pk)
        session.add(conversation)
        session.flush()
        assert outbox.threaded_plugins(session, conversation.pk) == frozenset()
        outbox.enqueue(session, workspace_pk=workspace.pk, conversation_pk=conversation.pk, plugin="slack",
                       action=outbox.OPEN_THREAD, payload={}, now=conversation.created_at)
        assert outbox.threaded_plugins(session, conversation.pk) == {"slack"}
        assert outbox.find_link(session, "zendesk", "T9", None) is None
        outbox.store_link(session, workspace_pk=workspace.pk, conversation_pk=conversation.pk, plugin="zendesk",
                          external_id="T9", data={})
        assert outbox.find_link(session, "zendesk", "T9", None) is not None
        assert outbox.threaded_plugins(session, conversation.pk) == {"slack", "zendesk"}
