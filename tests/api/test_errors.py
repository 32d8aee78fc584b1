"""Authentication, body limits and malformed input, on every route."""

from __future__ import annotations

import pytest

from connector.api.openapi import document

CONV = "conv_missing"
ROUTES = [
    (method.upper(), path.replace("{conversation_id}", CONV))
    for path, operations in document()["paths"].items()
    for method in operations
    if path != "/v1/openapi.json"
]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer hck_wrong", "Basic abc", "hck_no_scheme"])
def test_every_route_needs_a_valid_key(api, method, path, header):
    headers = {"Authorization": header} if header else {}
    response = api.request(method, path, headers=headers, auth=False, data=b"{not json")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.get_json()["error"]["field"] == "Authorization"


def test_openapi_needs_no_key(api):
    assert api.get("/v1/openapi.json", auth=False).status_code == 200


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/settings/notifications"])
def test_malformed_json_is_400_invalid_json(api, path):
    method = "POST" if path.endswith("conversations") else "PUT"
    response = api.request(method, path, data=b'{"shopper": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "invalid_json", "message": "The body is not valid JSON.", "field": "body"}
    assert api.get("/v1/conversations").get_json()["data"] == []


def test_a_body_that_is_not_an_object_is_400(api):
    response = api.post("/v1/conversations", json=["shopper"])
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "body"


def test_nested_fields_are_named_with_dots(api):
    response = api.post("/v1/conversations", json={"shopper": {"email": "nope"}})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "shopper.email"
    response = api.post("/v1/conversations", json={"shopper": {"nickname": "A"}})
    assert response.get_json()["error"]["field"] == "shopper.nickname"
    assert api.get("/v1/conversations").get_json()["data"] == []


def test_oversized_body_is_413_and_nothing_is_stored(api):
    conversation = api.post("/v1/conversations").get_json()
    big = {"author": "shopper", "text": "x" * (1024 * 1024 + 10)}
    response = api.post(f"/v1/conversations/{conversation['id']}/messages", json=big)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert api.get(f"/v1/conversations/{conversation['id']}/messages").get_json()["data"] == []


def test_unknown_routes_and_methods_answer_json(api):
    response = api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    response = api.request("DELETE", "/v1/conversations")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
