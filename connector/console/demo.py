"""The demo shopper widget at ``/demo``: play the shopper against a small stand-in AI.

The page talks to the connector the way a chat platform would: it posts the shopper's
messages, lets the stand-in AI answer only while the AI may reply, and shows the human's
replies and the "now talking to a human" state live over a WebSocket. Widget links are
signed per workspace; conversation streams per conversation.
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
from itsdangerous import URLSafeSerializer

from connector import domain
from connector import representations
from connector.api.stream import pump
from connector.api.stream import sock
from connector.handover import NotFound
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


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(connector().secret_key, salt=f"demo-{purpose}")


def widget_url(secret_key: str, base_url: str, workspace_id: str) -> str:
    token = URLSafeSerializer(secret_key, salt="demo-widget").dumps(workspace_id)
    return f"{base_url.rstrip('/')}/demo/{token}"


def _workspace(token: str) -> Workspace:
    try:
        workspace_id = _serializer("widget").loads(token)
    except BadSignature:
        abort(404)
    with connector().db.read() as session_:
        workspace = repository.get_workspace(session_, workspace_id)
    if workspace is None:
        abort(404)
    return workspace


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
    return redirect(url_for("demo.widget", token=_serializer("widget").dumps(workspace_id)))


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
    return jsonify({
        "conversation": representations.conversation_json(conversation),
        "stream_token": _serializer("stream").dumps([workspace.id, conversation.id]),
    }), 201


@bp.get("/<token>/conversations/<conversation_id>/messages")
def transcript(token: str, conversation_id: str) -> t.Any:
    workspace = _workspace(token)
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


@sock.route("/stream", bp=bp)
def stream(ws: t.Any) -> None:
    workspace_id, conversation_id = _stream_target()
    with connector().hub.subscribe(workspace_id, conversation_id) as subscription:
        pump(ws, subscription)


@bp.before_request
def check_stream_token() -> None:
    """Refuse a bad stream token before the WebSocket upgrade."""
    if request.endpoint == "demo.stream":
        _stream_target()


def _stream_target() -> tuple[str, str]:
    try:
        workspace_id, conversation_id = _serializer("stream").loads(request.args.get("token", ""))
    except (BadSignature, ValueError):
        abort(401)
    return workspace_id, conversation_id
