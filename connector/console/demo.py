"""The demo shopper widget at ``/demo``: play the shopper against a small stand-in AI.

The page talks to the connector the way a chat platform would: it posts the shopper's
messages, lets the stand-in AI answer only while the AI may reply, and shows the human's
replies and the "now talking to a human" state live over a WebSocket.

A widget link is signed for one workspace, expires (``CONNECTOR_DEMO_LINK_SECONDS``) and is
revoked with ``connector demo link WORKSPACE --revoke`` (a new nonce in the workspace's
settings makes every older link, and the streams it opened, fail). Through a link, a
browser reads and writes only the conversations its own widget started (kept in its signed
session cookie), never any other conversation of the workspace.
"""

from __future__ import annotations

import re
import typing as t

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

from connector.plugins.webhooks import new_nonce
from connector.plugins.webhooks import nonce_matches

from connector import domain
from connector import representations
from connector.api.stream import hand_over
from connector.handover import NotFound
from connector.live_sockets import Target
from connector.storage import repository
from connector.storage.models import Workspace

if t.TYPE_CHECKING:
    from connector.app import Connector

bp = Blueprint("demo", __name__, url_prefix="/demo", template_folder="templates", static_folder="static",
               static_url_path="/static")

#: (pattern, answer) in order; the first match answers. The stand-in AI never claims to be human.
ANSWERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(human|person|agent|someone real|representative)\b", re.I),
     "I'm the shop's AI assistant, not a person. A teammate can take this chat over; they see it in the console."),
    (re.compile(r"\b(ship|shipping|deliver|delivery|arrive|tracking)\b", re.I),
     "Standard shipping takes 3-5 business days and express 1-2. You get a tracking link by e-mail."),
    (re.compile(r"\b(return|refund|exchange|money back)\b", re.I),
     "You can return anything within 30 days for a full refund. Shall I explain how?"),
    (re.compile(r"\b(size|sizes|fit|small|large)\b", re.I),
     "Our sizes run true to size; the size guide is on every product page."),
    (re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b", re.I),
     "Hi! I'm the shop's AI assistant. I can help with shipping, returns and sizes."),
]
FALLBACK = "I'm the AI assistant of this demo shop: ask me about shipping, returns or sizes, or ask for a human."


def stand_in_answer(text: str) -> str:
    """The stand-in AI's rule-based answer to a shopper message."""
    for pattern, answer in ANSWERS:
        if pattern.search(text):
            return answer
    return FALLBACK


def connector() -> "Connector":
    return current_app.extensions["connector"]


#: the browser's own demo conversations, in its signed session cookie
OWN = "demo_conversations"
#: how many a browser keeps (the oldest are forgotten)
OWN_MAX = 20


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(connector().secret_key, salt=f"demo-{purpose}-v2")


def nonce_of(workspace: Workspace) -> str:
    """The workspace's current widget nonce ("" until the first revocation)."""
    return str(((workspace.settings or {}).get("demo") or {}).get("nonce") or "")


def widget_url(secret_key: str, base_url: str, workspace_id: str, nonce: str = "") -> str:
    token = URLSafeTimedSerializer(secret_key, salt="demo-widget-v2").dumps({"w": workspace_id, "n": nonce})
    return f"{base_url.rstrip('/')}/demo/{token}"


def revoke(db: t.Any, workspace: Workspace) -> str:
    """Make every widget link (and stream) of the workspace fail; returns the new nonce."""
    from connector import workspace_settings

    nonce = new_nonce()
    workspace_settings.store_section(db, workspace, "demo", {"nonce": nonce})
    return nonce


def _current(workspace_id: t.Any, nonce: t.Any, refused: int = 404) -> Workspace:
    """The workspace a link names, while the link's nonce is the workspace's current one."""
    if not isinstance(workspace_id, str) or not isinstance(nonce, str):
        abort(refused)
    with connector().db.read() as session_:
        workspace = repository.get_workspace(session_, workspace_id)
    if workspace is None or not nonce_matches(nonce_of(workspace), nonce):
        abort(refused)
    return workspace


def _workspace(token: str) -> Workspace:
    try:
        claims = _serializer("widget").loads(token, max_age=connector().settings.demo_link_seconds)
    except BadSignature:  # forged, altered or expired
        abort(404)
    if not isinstance(claims, dict):
        abort(404)
    return _current(claims.get("w"), claims.get("n"))


def _own(workspace: Workspace, conversation_id: str) -> None:
    """404 unless this browser's widget started the conversation."""
    if f"{workspace.id}:{conversation_id}" not in (session.get(OWN) or []):
        abort(404)


def _json_body() -> dict[str, t.Any]:
    """The JSON body; requiring the JSON content type keeps cross-site forms out."""
    if not request.is_json:
        abort(415)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


@bp.get("")
@bp.get("/")
def widget_for_console() -> t.Any:
    """From the console: the widget of the signed-in workspace."""
    workspace_id = session.get("workspace_id")
    if not workspace_id:
        return redirect(url_for("console.signin"))
    with connector().db.read() as session_:
        workspace = repository.get_workspace(session_, workspace_id)
    if workspace is None:
        return redirect(url_for("console.signin"))
    return redirect(url_for("demo.widget", token=_serializer("widget").dumps({"w": workspace_id,
                                                                               "n": nonce_of(workspace)})))


@bp.get("/<token>")
def widget(token: str) -> t.Any:
    workspace = _workspace(token)
    return render_template("widget.html", token=token, shop=workspace.name)


@bp.post("/<token>/conversations")
def start(token: str) -> t.Any:
    workspace = _workspace(token)
    body = _json_body()
    name = str(body.get("name") or "Demo shopper")[:200]
    conversation, _ = connector().handover.create_conversation(workspace, shopper_name=name)
    session[OWN] = [*(session.get(OWN) or [])[-(OWN_MAX - 1):], f"{workspace.id}:{conversation.id}"]
    return jsonify({
        "conversation": representations.conversation_json(conversation),
        "stream_token": _serializer("stream").dumps([workspace.id, conversation.id, nonce_of(workspace)]),
    }), 201


@bp.get("/<token>/conversations/<conversation_id>/messages")
def transcript(token: str, conversation_id: str) -> t.Any:
    workspace = _workspace(token)
    _own(workspace, conversation_id)
    try:
        conversation = connector().handover.get_conversation(workspace, conversation_id)
    except NotFound:
        abort(404)
    with connector().db.read() as session_:
        messages = repository.list_messages(session_, conversation.pk, after_pk=None, limit=1000)
    return jsonify({
        "conversation": representations.conversation_json(conversation),
        "data": [representations.message_json(m, conversation.id) for m in messages],
    })


@bp.post("/<token>/conversations/<conversation_id>/messages")
def shopper_says(token: str, conversation_id: str) -> t.Any:
    workspace = _workspace(token)
    _own(workspace, conversation_id)
    text = str(_json_body().get("text") or "").strip()[:5000]
    if not text:
        return jsonify({"error": {"code": "invalid_field", "message": "Type a message.", "field": "text"}}), 400
    service = connector().handover
    try:
        message, conversation = service.post_message(workspace, conversation_id, author="shopper", text=text, source="demo")
        if repository.state_of(conversation).ai_may_reply:
            try:
                service.post_message(workspace, conversation_id, author="ai", text=stand_in_answer(text),
                                     author_name="Shop assistant (AI)", source="demo")
            except domain.Refused:
                pass  # a human took over in between: the AI stays silent
    except NotFound:
        abort(404)
    return jsonify({"message": representations.message_json(message, conversation_id)}), 201


@bp.route("/stream", websocket=True)  # werkzeug routes an upgrade only to such a rule
def stream() -> t.Any:
    """The widget's conversation, live (a WebSocket)."""
    return hand_over(Target(*_stream_target()))


@bp.before_request
def check_stream_token() -> None:
    """Refuse a bad stream token before the WebSocket upgrade."""
    if request.endpoint == "demo.stream":
        _stream_target()


def _stream_target() -> tuple[str, str]:
    try:
        workspace_id, conversation_id, nonce = _serializer("stream").loads(
            request.args.get("token", ""), max_age=connector().settings.demo_link_seconds)
    except (BadSignature, ValueError, TypeError):
        abort(401)
    _current(workspace_id, nonce, refused=401)  # revoked with the widget's links
    return workspace_id, conversation_id
