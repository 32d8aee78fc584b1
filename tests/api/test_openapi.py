"""/v1/openapi.json is a valid OpenAPI 3.1 document and describes the app truthfully."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from connector.api.openapi import document


def test_document_is_valid_openapi(api):
    response = api.get("/v1/openapi.json", auth=False)
    assert response.status_code == 200
    validate(response.get_json())


def flask_routes(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or rule.websocket:
            continue  # the stream is a WebSocket, outside OpenAPI
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    return routes


def test_every_documented_route_exists_and_every_route_is_documented(app):
    documented = {(method, path) for path, ops in document()["paths"].items() for method in ops}
    assert documented == flask_routes(app)


def test_every_operation_documents_auth_failure_and_its_error_schema(api):
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            if path == "/v1/openapi.json":
                continue
            assert "401" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)


def test_walk_every_operation_with_a_valid_request(api):
    """Each call goes through the OpenAPI-checking client, which validates the answer."""
    conversation = api.post("/v1/conversations", json={"external_id": "walk", "shopper": {"name": "W"}}).get_json()
    cid = conversation["id"]
    calls = [
        ("GET", "/v1/conversations", None, 200),
        ("GET", f"/v1/conversations/{cid}", None, 200),
        ("POST", f"/v1/conversations/{cid}/messages", {"author": "shopper", "text": "hi"}, 201),
        ("GET", f"/v1/conversations/{cid}/messages", None, 200),
        ("POST", f"/v1/conversations/{cid}/handover", {"reason": "walk"}, 200),
        ("POST", f"/v1/conversations/{cid}/give-back", {}, 200),
        ("POST", f"/v1/conversations/{cid}/resolve", {}, 200),
        ("GET", f"/v1/conversations/{cid}/events", None, 200),
        ("GET", "/v1/settings/handover", None, 200),
        ("PUT", "/v1/settings/handover", {"enabled": True, "mode": "automate", "scenarios": []}, 200),
        ("GET", "/v1/settings/notifications", None, 200),
        ("PUT", "/v1/settings/notifications", {"recipients": ["a@shop.example"]}, 200),
        ("GET", "/v1/settings/platform-webhook", None, 200),
        ("PUT", "/v1/settings/platform-webhook", {"url": "https://platform.example/hook"}, 200),
        ("GET", "/v1/usage", None, 200),
        ("GET", "/v1/reports/handovers", None, 200),
        ("POST", "/v1/handover-scenarios/evaluate", {"messages": ["get me a human"]}, 200),
    ]
    walked = {("post", "/v1/conversations")}
    for method, path, body, status in calls:
        response = api.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.get_json())
        template = re.sub(r"conv_[0-9a-f]+", "{conversation_id}", path)
        walked.add((method.lower(), template))
    documented = {(m, p) for p, ops in document()["paths"].items() for m in ops if p != "/v1/openapi.json"}
    assert walked == documented
