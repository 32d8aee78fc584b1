"""The e-mails' words, in plain text and HTML (Jinja templates beside this module)."""

from __future__ import annotations

import re
import typing as t
from email.message import EmailMessage
from email.utils import formatdate
from email.utils import make_msgid
from pathlib import Path

from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import select_autoescape

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
KINDS = {"shopper": "Shopper", "ai": "AI", "human": "Human", "system": "System"}
#: line breaks and other control characters: never in a header value
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
HEADER_MAX = 200


def header_value(value: str) -> str:
    """``value`` safe for one e-mail header: control characters (CR, LF...) become spaces, and it is capped."""
    cleaned = " ".join(_CONTROL.sub(" ", value).split())
    return cleaned if len(cleaned) <= HEADER_MAX else cleaned[: HEADER_MAX - 1] + "\u2026"


def shopper_label(conversation: dict[str, t.Any]) -> str:
    shopper = conversation.get("shopper") or {}
    return shopper.get("name") or shopper.get("email") or "a shopper"


def build(kind: str, *, to: list[str], subject: str, message_id: str, **context: t.Any) -> EmailMessage:
    """An e-mail from the ``<kind>.txt`` and ``<kind>.html`` templates."""
    message = EmailMessage()
    message["To"] = ", ".join(header_value(address) for address in to)
    message["Subject"] = header_value(subject)
    message["Date"] = formatdate(usegmt=True)  # without one, spam filters score the message as spam
    message["Message-ID"] = make_msgid(idstring=header_value(message_id), domain="handover-connector")
    context = {**context, "kinds": KINDS}
    message.set_content(TEMPLATES.get_template(f"{kind}.txt").render(**context))
    message.add_alternative(TEMPLATES.get_template(f"{kind}.html").render(**context), subtype="html")
    return message
