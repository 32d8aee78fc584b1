"""The console: sign-in, the Conversations inbox and the session view."""

from __future__ import annotations

import datetime as dt
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

from connector import domain
from connector import representations
from connector.api.stream import hand_over
from connector.console import auth
from connector.console import inbox as inbox_queries
from connector.console import timeline
from connector.handover import NotFound
from connector.live_sockets import Target

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


@bp.app_template_filter("iso_time")
def iso_time(value: dt.datetime) -> str:
    return representations.timestamp(value)


@bp.app_template_filter("absolute_time")
def absolute_time(value: dt.datetime) -> str:
    """The server's spelling of a time (UTC); the page's script shows it in the reader's zone."""
    return value.astimezone(dt.timezone.utc).strftime("%-d %b %Y, %H:%M UTC")


@bp.app_template_filter("author_label")
def author_label(message: t.Any) -> tuple[str, str | None]:
    return timeline.author_label(message)


@bp.app_template_filter("is_web_url")
def is_web_url(url: t.Any) -> bool:
    """Only http(s) links are clickable (an attachment URL could be ``javascript:``)."""
    return isinstance(url, str) and urlsplit(url).scheme in ("http", "https")


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


def _titles() -> dict[str, str]:
    """Plugin names as agents know them ("Slack"), for the transcript's markers."""
    return {plugin.name: plugin.title for plugin in connector().plugins}


def _search() -> str:
    return request.args.get("q", "").strip()[: inbox_queries.MAX_QUERY]


def _inbox_rows(tab: str, search: str) -> list[inbox_queries.Row]:
    with connector().db.read() as session_:
        return inbox_queries.list_rows(session_, g.workspace, status=tab, search=search, limit=INBOX_LIMIT)


@bp.get("/conversations")
@bp.get("/conversations/<conversation_id>")
@auth.admin_required
def inbox(conversation_id: str | None = None) -> t.Any:
    view: dict[str, t.Any] | None = None
    selected = None
    fragment = request.args.get("fragment") == "list"
    if conversation_id:
        row = _conversation_or_404(conversation_id)
        selected = representations.conversation_json(row)
        if not fragment:
            view = _session_view(row)
            inbox_queries.mark_seen(connector().db, g.workspace, row.id, view["last_shopper_pk"])
    tab = request.args.get("tab") or (selected["status"] if selected else "open")
    if tab not in ("open", "resolved"):
        tab = "open"
    search = _search()
    return render_template(
        "inbox_list.html" if fragment else "inbox.html",
        tab=tab, q=search, conversations=_inbox_rows(tab, search), selected=selected, view=view,
        can_hand_over=domain.HANDOVER_TO_HUMAN in (g.workspace.abilities or ()),
        demo_enabled="demo" in current_app.blueprints,
        admin=g.admin_name, workspace=g.workspace,
    )


def _conversation_or_404(conversation_id: str) -> t.Any:
    """The signed-in workspace's conversation, or 404 (another workspace's ids included)."""
    try:
        return connector().handover.get_conversation(g.workspace, conversation_id)
    except NotFound:
        abort(404)


def _session_view(row: t.Any, since: dt.datetime | None = None) -> dict[str, t.Any]:
    """What the session pane shows: the transcript with its markers, and the header lines."""
    titles = _titles()
    with connector().db.read() as session_:
        messages, events, earlier = inbox_queries.transcript_rows(session_, row.pk, since=since)
        story = events if since is None else inbox_queries.all_events(session_, row.pk)
        last_shopper = inbox_queries.latest_shopper_pk(session_, row.pk)
    return {
        "lines": timeline.transcript(messages, events, titles),
        "earlier": earlier,
        "state_line": timeline.state_line(row),
        "ai_bar": timeline.ai_bar(row),
        "why": timeline.why(row, story, titles),
        "last_shopper_pk": last_shopper,
    }


@bp.get("/conversations/<conversation_id>/timeline")
@auth.admin_required
def live_timeline(conversation_id: str) -> t.Any:
    """What happened since ``since`` (an ISO time), for the page's script: new lines and the header.

    """
    row = _conversation_or_404(conversation_id)
    since = representations.parse_moment(request.args.get("since", ""))
    if since is None:
        return {"error": {"code": "invalid_request", "message": "since must be an ISO 8601 time",
                          "field": "since"}}, 400
    view = _session_view(row, since=since)
    return {
        "conversation": representations.conversation_json(row),
        "state_line": view["state_line"],
        "ai_bar": view["ai_bar"],
        "why_html": render_template("session_why.html", view=view),
        "items_html": render_template("transcript_items.html", items=view["lines"]),
    }


@bp.post("/conversations/<conversation_id>/seen")
@auth.admin_required
def seen(conversation_id: str) -> t.Any:
    """The admin has the conversation on screen: its shopper messages so far count as seen."""
    row = _conversation_or_404(conversation_id)
    with connector().db.read() as session_:
        last_shopper = inbox_queries.latest_shopper_pk(session_, row.pk)
    inbox_queries.mark_seen(connector().db, g.workspace, row.id, last_shopper)
    return "", 204


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
    row = _conversation_or_404(conversation_id)
    return representations.conversation_json(row)


@bp.route("/stream", websocket=True)  # werkzeug routes an upgrade only to such a rule
@auth.admin_required
def stream() -> t.Any:
    """The signed-in workspace's live events (a WebSocket), for the page's script."""
    return hand_over(Target(g.workspace.id))


@bp.before_request
def same_origin_websockets() -> None:
    """Browsers send cookies with cross-site WebSocket upgrades: refuse foreign origins."""
    if request.endpoint == "console.stream":
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            abort(403)
