"""The platform API under ``/v1``: thin views over :class:`connector.handover.HandoverService`."""

from __future__ import annotations

import base64
import typing as t
from urllib.parse import urlsplit

from flask import Blueprint
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from pydantic import BaseModel
from pydantic import ValidationError

from connector import domain
from connector import representations
from connector import workspace_settings
from connector.api import schemas
from connector.api.errors import ApiError
from connector.api.errors import validation_error
from connector.plugins.http import AddressRefused
from connector.plugins.http import checked_address
from connector.security import new_webhook_secret
from connector.storage import repository
from connector.storage.models import Workspace

if t.TYPE_CHECKING:
    from connector.app import Connector

bp = Blueprint("api", __name__, url_prefix="/v1")

M = t.TypeVar("M", bound=BaseModel)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Routes that need no key.
PUBLIC_ENDPOINTS = {"api.openapi"}


def connector() -> "Connector":
    return current_app.extensions["connector"]


def workspace() -> Workspace:
    return g.workspace


# -- request plumbing --------------------------------------------------------------------


@bp.before_request
def authenticate() -> None:
    """Check the bearer key before anything of the request is read."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    if not header and request.endpoint == "api.stream" and request.args.get("token"):
        header = f"Bearer {request.args['token']}"  # browsers cannot set headers on WebSockets
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "Send your API key as 'Authorization: Bearer <key>'.", "Authorization")
    found = connector().keys.get(key.strip())
    if found is None:
        raise ApiError(401, "unauthorized", "The API key is not valid.", "Authorization")
    g.workspace = found


def parse_body(model: type[M]) -> M:
    """The JSON body validated as ``model``; an empty body counts as ``{}``."""
    raw = request.get_data(cache=False) or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc, model) from None


def query_limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "invalid_field", f"limit must be a whole number from 1 to {MAX_LIMIT}.", "limit")
    return int(raw)


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"pk:{pk}".encode()).decode().rstrip("=")


def decode_cursor() -> int | None:
    raw = request.args.get("cursor")
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "pk" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except ValueError:
        raise ApiError(400, "invalid_field", "cursor is not one this API gave out.", "cursor") from None


def page(rows: list[t.Any], limit: int, render: t.Callable[[t.Any], dict[str, t.Any]]) -> dict[str, t.Any]:
    """A page of ``limit`` rows; one row more was fetched to know whether another page exists."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": [render(row) for row in rows],
        "next_cursor": encode_cursor(rows[-1].pk) if more else None,
    }


def actor_from(body: schemas.ActionIn) -> domain.Actor:
    return domain.Actor(kind="human" if body.actor else "platform", name=body.actor)


# -- conversations -----------------------------------------------------------------------


@bp.post("/conversations")
def create_conversation() -> t.Any:
    body = parse_body(schemas.ConversationCreate)
    conversation, created = connector().handover.create_conversation(
        workspace(),
        external_id=body.external_id,
        shopper_name=body.shopper.name,
        shopper_email=body.shopper.email,
    )
    return jsonify(representations.conversation_json(conversation)), 201 if created else 200


@bp.get("/conversations")
def list_conversations() -> t.Any:
    status = request.args.get("status")
    if status not in (None, "open", "resolved"):
        raise ApiError(400, "invalid_field", "status must be open or resolved.", "status")
    needs_you_raw = request.args.get("needs_you")
    if needs_you_raw not in (None, "true", "false"):
        raise ApiError(400, "invalid_field", "needs_you must be true or false.", "needs_you")
    needs_you = None if needs_you_raw is None else needs_you_raw == "true"
    limit = query_limit()
    cursor = decode_cursor()
    with connector().db.read() as session:
        rows = repository.list_conversations(
            session, workspace().pk, status=status, needs_you=needs_you, before_pk=cursor, limit=limit + 1
        )
    return jsonify(page(rows, limit, representations.conversation_json))


@bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str) -> t.Any:
    conversation = connector().handover.get_conversation(workspace(), conversation_id)
    return jsonify(representations.conversation_json(conversation))


@bp.get("/conversations/<conversation_id>/messages")
def list_messages(conversation_id: str) -> t.Any:
    limit = query_limit()
    cursor = decode_cursor()
    conversation = connector().handover.get_conversation(workspace(), conversation_id)
    with connector().db.read() as session:
        rows = repository.list_messages(session, conversation.pk, after_pk=cursor, limit=limit + 1)
    return jsonify(page(rows, limit, lambda m: representations.message_json(m, conversation.id)))


@bp.post("/conversations/<conversation_id>/messages")
def post_message(conversation_id: str) -> t.Any:
    body = parse_body(schemas.MessageCreate)
    message, conversation = connector().handover.post_message(
        workspace(),
        conversation_id,
        author=body.author,
        text=body.text,
        author_name=body.author_name,
        attachments=[
            {"url": str(a.url), "name": a.name, "content_type": a.content_type} for a in body.attachments
        ],
        source="api",
    )
    return jsonify(
        {
            "message": representations.message_json(message, conversation.id),
            "conversation": representations.conversation_json(conversation),
        }
    ), 201


def _command(conversation_id: str, command: domain.Command) -> t.Any:
    body = parse_body(schemas.ActionIn)
    conversation = connector().handover.run_command(
        workspace(), conversation_id, command, actor=actor_from(body), source="api", reason=body.reason
    )
    return jsonify(representations.conversation_json(conversation))


@bp.post("/conversations/<conversation_id>/handover")
def hand_over(conversation_id: str) -> t.Any:
    body = parse_body(schemas.HandoverIn)
    if body.automatic:
        assert body.scenario is not None
        conversation = connector().escalation.escalate(workspace(), conversation_id, body.scenario, reason=body.reason)
    else:
        conversation = connector().handover.run_command(
            workspace(), conversation_id, domain.Command.HAND_OVER, actor=actor_from(body), source="api",
            reason=body.reason)
    return jsonify(representations.conversation_json(conversation))


@bp.post("/handover-scenarios/evaluate")
def evaluate_scenarios() -> t.Any:
    from connector.detection import Scenario
    from connector.escalation import workspace_scenarios

    body = parse_body(schemas.EvaluateIn)
    if body.scenarios is None:
        scenarios = workspace_scenarios(workspace())
    else:
        scenarios = [Scenario(s.name, s.instruction, tuple(s.examples)) for s in body.scenarios]
    results = connector().escalation.evaluate(body.messages, scenarios)
    return jsonify({"results": [
        {"fired": [{"scenario": f.scenario, "score": round(f.score, 4), "family": f.family, "evidence": f.evidence}
                   for f in fired]} for fired in results
    ]})


@bp.post("/conversations/<conversation_id>/give-back")
def give_back(conversation_id: str) -> t.Any:
    return _command(conversation_id, domain.Command.GIVE_BACK)


@bp.post("/conversations/<conversation_id>/resolve")
def resolve(conversation_id: str) -> t.Any:
    return _command(conversation_id, domain.Command.RESOLVE)


@bp.get("/conversations/<conversation_id>/events")
def list_events(conversation_id: str) -> t.Any:
    limit = query_limit()
    cursor = decode_cursor()
    conversation = connector().handover.get_conversation(workspace(), conversation_id)
    with connector().db.read() as session:
        rows = repository.list_events(session, conversation.pk, after_pk=cursor, limit=limit + 1)
    return jsonify(page(rows, limit, lambda e: representations.event_json(e, conversation.id)))


# -- settings and usage ------------------------------------------------------------------


@bp.get("/settings/handover")
def get_handover_settings() -> t.Any:
    section = workspace_settings.read_section(workspace(), "handover")
    return jsonify(schemas.HandoverSettings.model_validate(section, strict=False).model_dump(mode="json"))


@bp.put("/settings/handover")
def put_handover_settings() -> t.Any:
    body = parse_body(schemas.HandoverSettings)
    if body.enabled and not workspace_settings.may_enable_handover(workspace()):
        raise ApiError(
            402, "upgrade_required",
            "Your plan does not include the Handover to human ability.", "enabled",
        )
    value = body.model_dump(mode="json")
    workspace_settings.store_section(connector().db, workspace(), "handover", value)
    return jsonify(value)


@bp.get("/settings/notifications")
def get_notification_settings() -> t.Any:
    return jsonify({"recipients": list(workspace_settings.read_section(workspace(), "notifications").get("recipients", []))})


@bp.put("/settings/notifications")
def put_notification_settings() -> t.Any:
    body = parse_body(schemas.NotificationSettings)
    value = {"recipients": [str(address) for address in body.recipients]}
    workspace_settings.store_section(connector().db, workspace(), "notifications", value)
    return jsonify(value)


@bp.get("/settings/platform-webhook")
def get_platform_webhook() -> t.Any:
    return jsonify({"url": workspace().platform_webhook_url, "secret": None})


@bp.put("/settings/platform-webhook")
def put_platform_webhook() -> t.Any:
    body = parse_body(schemas.PlatformWebhookIn)
    url = str(body.url)
    if connector().settings.webhook_deny_private:
        parts = urlsplit(url)
        try:
            checked_address(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        except AddressRefused as exc:
            raise ApiError(400, "invalid_field", f"url is refused: {exc}.", "url") from None
    secret = new_webhook_secret()
    workspace_settings.store_platform_webhook(connector().db, workspace(), url, connector().secrets.encrypt(secret))
    return jsonify({"url": url, "secret": secret})


@bp.get("/usage")
def usage() -> t.Any:
    with connector().db.read() as session:
        return jsonify(repository.usage(session, workspace().pk))


@bp.get("/reports/handovers")
def handover_report() -> t.Any:
    from connector import reports

    since, until = _moment("since"), _moment("until")
    if since is not None and until is not None and until <= since:
        raise ApiError(400, "invalid_field", "until must be after since.", "until")
    with connector().db.read() as session:
        return jsonify(reports.handover_report(session, workspace().pk, since, until))


def _moment(name: str) -> t.Any:
    """An ISO 8601 date or time query parameter, or None when absent."""
    value = request.args.get(name)
    if not value:
        return None
    at = representations.parse_moment(value)
    if at is None:
        raise ApiError(400, "invalid_field", f"{name} must be an ISO 8601 date or time.", name)
    return at


@bp.get("/openapi.json")
def openapi() -> t.Any:
    from connector.api.openapi import document

    return jsonify(document())
