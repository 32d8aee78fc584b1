"""The OpenAPI 3.1 document of the platform API, built from the pydantic schemas.

Each operation lists every status it can answer; the API tests check every response they
see against this document, so it stays truthful.
"""

from __future__ import annotations

import functools
import typing as t

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from connector.api import schemas

REF = "#/components/schemas/{model}"

ERRORS = {
    400: "Malformed JSON, or a wrong or missing field (error.field names it)",
    401: "Missing or wrong API key",
    402: "The plan lacks the handover_to_human ability (upgrade_required)",
    404: "No such conversation in this workspace",
    409: "Not allowed in the conversation's current state",
    413: "Body larger than the limit (payload_too_large)",
}

ID_PARAM = {
    "name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"},
}
PAGING = [
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "next_cursor of the previous page"},
]


class Op(t.NamedTuple):
    method: str
    path: str
    operation_id: str
    summary: str
    ok: dict[int, type[BaseModel]]
    errors: tuple[int, ...]
    body: type[BaseModel] | None = None
    params: tuple[dict[str, t.Any], ...] = ()
    public: bool = False


CONV = "/v1/conversations/{conversation_id}"

OPERATIONS: tuple[Op, ...] = (
    Op("post", "/v1/conversations", "createConversation",
       "Start a conversation (returns the existing one, 200, for a known external_id)",
       {201: schemas.ConversationOut, 200: schemas.ConversationOut}, (400, 401, 413),
       body=schemas.ConversationCreate),
    Op("get", "/v1/conversations", "listConversations", "List conversations, newest first",
       {200: schemas.ConversationPage}, (400, 401),
       params=(
           {"name": "status", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["open", "resolved"]}},
           {"name": "needs_you", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["true", "false"]}},
           *PAGING,
       )),
    Op("get", CONV, "getConversation", "One conversation",
       {200: schemas.ConversationOut}, (401, 404), params=(ID_PARAM,)),
    Op("get", CONV + "/messages", "listMessages", "The transcript, oldest first",
       {200: schemas.MessagePage}, (400, 401, 404), params=(ID_PARAM, *PAGING)),
    Op("post", CONV + "/messages", "postMessage",
       "Add a shopper, AI or human message (a shopper message reopens a resolved conversation)",
       {201: schemas.MessageCreated}, (400, 401, 404, 409, 413),
       body=schemas.MessageCreate, params=(ID_PARAM,)),
    Op("post", CONV + "/handover", "handOver",
       "Hand the conversation to a human (succeeds, changing nothing, when a human already has it); "
       "with automatic and scenario it follows the workspace's mode",
       {200: schemas.ConversationOut}, (400, 401, 402, 404, 409, 413),
       body=schemas.HandoverIn, params=(ID_PARAM,)),
    Op("post", "/v1/handover-scenarios/evaluate", "evaluateScenarios",
       "Which scenarios fire for each message (hands nothing over; open to every plan)",
       {200: schemas.EvaluateOut}, (400, 401, 413), body=schemas.EvaluateIn),
    Op("post", CONV + "/give-back", "giveBack", "Give the conversation back to the AI",
       {200: schemas.ConversationOut}, (400, 401, 404, 409, 413),
       body=schemas.ActionIn, params=(ID_PARAM,)),
    Op("post", CONV + "/resolve", "resolve", "Resolve the conversation",
       {200: schemas.ConversationOut}, (400, 401, 404, 409, 413),
       body=schemas.ActionIn, params=(ID_PARAM,)),
    Op("get", CONV + "/events", "listEvents", "The append-only log of transitions, oldest first",
       {200: schemas.EventPage}, (400, 401, 404), params=(ID_PARAM, *PAGING)),
    Op("get", "/v1/settings/handover", "getHandoverSettings", "The Handover to human ability",
       {200: schemas.HandoverSettingsOut}, (401,)),
    Op("put", "/v1/settings/handover", "putHandoverSettings",
       "Switch the Handover to human ability, its mode and scenarios",
       {200: schemas.HandoverSettingsOut}, (400, 401, 402, 413), body=schemas.HandoverSettings),
    Op("get", "/v1/settings/notifications", "getNotificationSettings", "Handover e-mail recipients",
       {200: schemas.NotificationSettingsOut}, (401,)),
    Op("put", "/v1/settings/notifications", "putNotificationSettings", "Set handover e-mail recipients",
       {200: schemas.NotificationSettingsOut}, (400, 401, 413), body=schemas.NotificationSettings),
    Op("get", "/v1/settings/platform-webhook", "getPlatformWebhook",
       "Where outgoing events go (the secret is never shown again)",
       {200: schemas.PlatformWebhookOut}, (401,)),
    Op("put", "/v1/settings/platform-webhook", "putPlatformWebhook",
       "Set the webhook URL; answers a new signing secret, shown once",
       {200: schemas.PlatformWebhookOut}, (400, 401, 413), body=schemas.PlatformWebhookIn),
    Op("get", "/v1/usage", "getUsage", "Conversation counts for the AI resolution quota",
       {200: schemas.Usage}, (401,)),
    Op("get", "/v1/reports/handovers", "getHandoverReport",
       "How long handovers wait for a human: claimed, unclaimed, time to claim and to resolve",
       {200: schemas.HandoverReport}, (400, 401),
       params=(
           {"name": "since", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
            "description": "ISO 8601; hand overs at or after it"},
           {"name": "until", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
            "description": "ISO 8601; hand overs before it"},
       )),
)


def _models() -> list[type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {"Error": schemas.Error}
    for op in OPERATIONS:
        for model in op.ok.values():
            models[model.__name__] = model
        if op.body is not None:
            models[op.body.__name__] = op.body
    return list(models.values())


@functools.cache
def document() -> dict[str, t.Any]:
    """The whole OpenAPI document."""
    models = _models()
    _, defs = models_json_schema(
        [(m, "validation" if issubclass(m, schemas.Strict) else "serialization") for m in models],
        ref_template=REF,
    )
    paths: dict[str, dict[str, t.Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, t.Any] = {
            str(status): {
                "description": "Created" if status == 201 else "OK",
                "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
            }
            for status, model in sorted(op.ok.items())
        }
        for status in op.errors:
            responses[str(status)] = {
                "description": ERRORS[status],
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            }
        operation: dict[str, t.Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "parameters": list(op.params),
            "responses": responses,
        }
        if op.body is not None:
            operation["requestBody"] = {
                "required": op.method == "put" or op.body is schemas.MessageCreate,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}},
            }
        paths.setdefault(op.path, {})[op.method] = operation
    paths["/v1/openapi.json"] = {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document (no key needed)",
            "security": [],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Handover Connector platform API",
            "version": "1",
            "description": (
                "Hand conversations between an AI shopping assistant and human agents. "
                "Errors are {\"error\": {\"code\", \"message\", \"field\"}}; field is a dotted path."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": defs["$defs"],
        },
        "paths": paths,
    }
