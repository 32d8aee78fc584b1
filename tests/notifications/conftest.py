"""What the e-mail tests share: a real SMTP server (aiosmtpd) in the test process, and a
connector with no plugins whose worker sends through it."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from connector.app import build_connector
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def bodies(self, message):
        return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def settings(settings, inbox):
    settings.smtp_url = f"smtp://127.0.0.1:{inbox.port}?from=handover@shop.example"
    settings.base_url = "https://connector.example"
    return settings


@pytest.fixture
def connector(settings, database):
    return build_connector(settings, db=database, plugins=PluginRegistry())


@pytest.fixture
def worker(connector):
    return DeliveryWorker(connector, worker_id="mail-worker")


def deliver(worker):
    while worker.run_once():
        pass


