"""The console: sign-in, the Conversations inbox and the session view."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from sqlalchemy import func
from sqlalchemy import select

from connector import domain
from connector.api.stream import pump
from connector.api.stream import sock
from connector import representations
from connector.console import auth
from connector.handover import NotFound
from connector.storage import repository
from connector.storage.models import Event
from connector.storage.models import Message

if t.TYPE_CHECKING:
    from connector.app import Connector

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

INBOX_LIMIT = 100
ACTIONS = {
    "handover": domain.Command.HAND_OVER,
    "give-back": domain.Command.GIVE_BACK,
    "resolve": domain.Command.RESOLVE,
}
#: What each refusal tells the admin.
REFUSALS = {
    "upgrade_required": "Your plan does not include the Handover to human ability.",
    "not_in_human_mode": "The AI is already in charge of this conversation.",
    "already_resolved": "This conversation is already resolved.",
    "ai_in_control": "The AI is in charge: hand the conversation over before replying.",
    "conversation_resolved": "This conversation is resolved.",
}


def connector() -> "Connector":
    return current_app.extensions["connector"]


@bp.app_context_processor
def template_globals() -> dict[str, t.Any]:
    return {"csrf_token": auth.csrf_token}


# -- sign-in -----------------------------------------------------------------------------


@bp.get("/signin")
def signin() -> t.Any:
    return render_template("signin.html", next=request.args.get("next", ""))


@bp.post("/signin")
def signin_password() -> t.Any:
    found = auth.check_password(connector().db, request.form.get("email", ""), request.form.get("password", ""))
    if found is None:
        return render_template("signin.html", error="Wrong e-mail or password.", next=request.form.get("next", "")), 401
    admin, workspace = found
    auth.sign_in(workspace, admin.name)
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/signin/<token>")
def signin_link(token: str) -> t.Any:
    try:
        workspace = auth.redeem_signin_link(connector().db, connector().secret_key, token)
    except auth.SigninError as exc:
        return render_template("signin.html", error=str(exc)), 400
    auth.sign_in(workspace, "Admin")
    return redirect(url_for("console.inbox"))


@bp.post("/signout")
def signout() -> t.Any:
    auth.check_csrf()
    session.clear()
    return redirect(url_for("console.signin"))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.inbox")


# -- the inbox ---------------------------------------------------------------------------


@bp.get("/")
@auth.admin_required
def home() -> t.Any:
    return redirect(url_for("console.inbox"))


def _inbox_rows(tab: str) -> list[dict[str, t.Any]]:
    with connector().db.read() as session_:
        rows = repository.list_conversations(
            session_, g.workspace.pk, status=tab, needs_you=None, before_pk=None, limit=INBOX_LIMIT
        )
        last = _last_messages(session_, [row.pk for row in rows])
    return [{**representations.conversation_json(row), "last_message": last.get(row.pk)} for row in rows]


def _last_messages(session_: t.Any, conversation_pks: list[int]) -> dict[int, str]:
    if not conversation_pks:
        return {}
    latest = (
        select(func.max(Message.pk)).where(Message.conversation_pk.in_(conversation_pks))
        .group_by(Message.conversation_pk)
    )
    return {m.conversation_pk: m.text for m in session_.scalars(select(Message).where(Message.pk.in_(latest)))}


@bp.get("/conversations")
@bp.get("/conversations/<conversation_id>")
@auth.admin_required
def inbox(conversation_id: str | None = None) -> t.Any:
    selected = transcript = why = None
    if conversation_id:
        try:
            row = connector().handover.get_conversation(g.workspace, conversation_id)
        except NotFound:
            abort(404)
        selected = representations.conversation_json(row)
        with connector().db.read() as session_:
            transcript = [
                representations.message_json(m, row.id)
                for m in repository.list_messages(session_, row.pk, after_pk=None, limit=1000)
            ]
            why = _why(session_, row.pk)
    tab = request.args.get("tab") or (selected["status"] if selected else "open")
    if tab not in ("open", "resolved"):
        tab = "open"
    template = "inbox_list.html" if request.args.get("fragment") == "list" else "inbox.html"
    return render_template(
        template, tab=tab, conversations=_inbox_rows(tab), selected=selected, transcript=transcript, why=why,
        can_hand_over=domain.HANDOVER_TO_HUMAN in (g.workspace.abilities or ()),
        demo_enabled="demo" in current_app.blueprints,
        admin=g.admin_name, workspace=g.workspace,
    )


def _why(session_: t.Any, conversation_pk: int) -> str | None:
    """Why the conversation was last handed over (or a handover suggested): who, which scenario, which tool."""
    event = session_.scalar(
        select(Event).where(Event.conversation_pk == conversation_pk,
                            Event.type.in_(("handed_over", "handover_suggested")))
        .order_by(Event.pk.desc()).limit(1))
    if event is None:
        return None
    what = "Handover suggested" if event.type == "handover_suggested" else "Handed over"
    if event.trigger == "automatic":
        return f"{what} automatically: the “{event.scenario}” scenario fired."
    who = event.actor_name or "the chat platform"
    return f"{what} by {who} from {event.source}" + (f": {event.reason}" if event.reason else ".")


@bp.post("/conversations/<conversation_id>/<action>")
@auth.admin_required
def act(conversation_id: str, action: str) -> t.Any:
    actor = domain.Actor(kind="human", name=g.admin_name)
    try:
        if action == "messages":
            text = request.form.get("text", "")
            if not text.strip():
                flash("Type a message first.", "error")
            else:
                connector().handover.post_message(
                    g.workspace, conversation_id, author="human", text=text[:20_000],
                    author_name=g.admin_name, source="console",
                )
        elif action in ACTIONS:
            connector().handover.run_command(g.workspace, conversation_id, ACTIONS[action],
                                             actor=actor, source="console")
        else:
            abort(404)
    except NotFound:
        abort(404)
    except domain.Refused as refused:
        flash(REFUSALS.get(refused.code, refused.message), "error")
    return redirect(url_for("console.inbox", conversation_id=conversation_id))


@bp.get("/conversations/<conversation_id>/state")
@auth.admin_required
def state(conversation_id: str) -> t.Any:
    """The conversation as JSON, for the page's script after a reconnect."""
    try:
        row = connector().handover.get_conversation(g.workspace, conversation_id)
    except NotFound:
        abort(404)
    return representations.conversation_json(row)


@sock.route("/stream", bp=bp)
@auth.admin_required
def stream(ws: t.Any) -> None:
    """The signed-in workspace's live events, for the page's script."""
    with connector().hub.subscribe(g.workspace.id) as subscription:
        pump(ws, subscription)


@bp.before_request
def same_origin_websockets() -> None:
    """Browsers send cookies with cross-site WebSocket upgrades: refuse foreign origins."""
    if request.endpoint == "console.stream":
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            abort(403)
