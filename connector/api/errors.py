"""JSON errors for the platform API: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from pydantic import BaseModel
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

from connector import domain
from connector.handover import NotFound

#: HTTP status of each domain refusal; every other refusal is a 409 conflict.
REFUSAL_STATUS = {"upgrade_required": 402}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(status: int, code: str, message: str, field: str | None = None) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "field": field}}), status


def validation_error(exc: ValidationError, model: type[BaseModel]) -> ApiError:
    """The first problem of a pydantic error, as a 400 naming its dotted field path."""
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return ApiError(400, "invalid_json", "The body is not valid JSON.", "body")
    loc = [str(part) for part in first["loc"]]
    if first["type"] in ("model_type", "model_attributes_type") and not loc:
        return ApiError(400, "invalid_request", "The body must be a JSON object.", "body")
    field = ".".join(loc) if loc else getattr(model, "root_error_field", "body")
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "Unknown field."
    elif first["type"] == "missing":
        message = "This field is required."
    return ApiError(400, "invalid_field", f"{field}: {message}", field)


def _is_api_request() -> bool:
    return request.path.startswith("/v1/") or request.path == "/v1"


def init_app(app: Flask) -> None:
    """JSON errors for every /v1 route (and 413, and JSON nested too deeply, everywhere)."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> t.Any:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(domain.Refused)
    def _refused(exc: domain.Refused) -> t.Any:
        return error_response(REFUSAL_STATUS.get(exc.code, 409), exc.code, exc.message)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> t.Any:
        return error_response(404, "not_found", str(exc), exc.field)

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> t.Any:
        # JSON nested deeper than the parser's recursion limit, on any route (the demo
        # widget, a vendor's webhook): the client's mistake, never a 500
        return error_response(400, "invalid_json", "The JSON body is nested too deeply.", "body")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> t.Any:
        status = exc.code or 500
        if isinstance(exc, WebsocketMismatch):  # a stream route asked for without the upgrade
            return error_response(400, "websocket_required",
                                  "This is a WebSocket: connect with a WebSocket client (Upgrade: websocket).",
                                  "Upgrade")
        if status == 413:
            return error_response(413, "payload_too_large", "The request body is larger than the limit.", "body")
        if not _is_api_request():
            return exc
        return error_response(status, HTTP_CODES.get(status, "http_error"), exc.description or exc.name)
