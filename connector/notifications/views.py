"""``/hooks/email/<token>``: the "Take over" / "Let the AI continue" links of e-mails.

A GET shows what the link will do and a button (mail scanners follow links, so a GET
changes nothing); the POST spends the link and acts. Expired, forged or used links get
a clear page and change nothing.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import current_app
from flask import render_template

from connector import domain
from connector.handover import NotFound
from connector.notifications import links
from connector.storage import repository

bp = Blueprint("email", __name__, url_prefix="/hooks/email", template_folder="templates")

WORDS = {"take_over": "Take over", "let_ai_continue": "Let the AI continue"}


def _page(title: str, text: str, status: int = 200, token: str | None = None, action: str | None = None) -> t.Any:
    return render_template("link.html", title=title, text=text, token=token, action=action,
                           button=WORDS.get(action or "")), status


@bp.get("/<token>")
def confirm(token: str) -> t.Any:
    connector = current_app.extensions["connector"]
    try:
        data = links.read_link(connector.secret_key, token)
    except links.LinkError as exc:
        return _page("This link cannot be used", str(exc), 410)
    text = ("Hand this conversation over to you: the AI stops replying." if data["action"] == "take_over"
            else "Let the AI keep chatting with this shopper.")
    return _page(WORDS[data["action"]], text, token=token, action=data["action"])


@bp.post("/<token>")
def act(token: str) -> t.Any:
    connector = current_app.extensions["connector"]
    try:
        data = links.read_link(connector.secret_key, token)
        links.spend(connector.db, data["nonce"])
    except links.LinkError as exc:
        return _page("This link cannot be used", str(exc), 410)
    if data["action"] == "let_ai_continue":
        return _page("The AI continues", "Nothing changes: the AI keeps chatting with the shopper.")
    with connector.db.read() as session:
        workspace = repository.get_workspace(session, data["ws"])
    try:
        if workspace is None:
            raise NotFound("workspace")
        connector.handover.run_command(workspace, data["conv"], domain.Command.HAND_OVER,
                                       actor=domain.Actor("human", "e-mail link"), source="email",
                                       reason="Take over link in the handover e-mail")
    except NotFound:
        return _page("This link cannot be used", "The conversation no longer exists.", 410)
    except domain.Refused as refused:
        return _page("Could not take over", refused.message, 409)
    url = f"{connector.settings.base_url.rstrip('/')}/console/conversations/{data['conv']}"
    return _page("You have taken over", f"The AI has stopped replying. Open the conversation: {url}")
