"""Conversations: create, read, list with filters and cursors, and workspace isolation."""

from __future__ import annotations


def create(api, **body):
    response = api.post("/v1/conversations", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_and_get(api):
    created = create(api, external_id="chat-1", shopper={"name": "Ann", "email": "ann@example.com"})
    assert created["status"] == "open"
    assert created["controller"] == "ai"
    assert created["needs_you"] is False
    assert created["ai_may_reply"] is True
    assert created["ever_handed_over"] is False
    assert created["shopper"] == {"name": "Ann", "email": "ann@example.com"}
    assert created["id"].startswith("conv_")

    fetched = api.get(f"/v1/conversations/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == created


def test_create_with_empty_body_and_no_shopper(api):
    response = api.post("/v1/conversations")
    assert response.status_code == 201
    assert response.get_json()["shopper"] == {"name": None, "email": None}


def test_same_external_id_returns_the_existing_conversation(api):
    first = create(api, external_id="chat-7")
    again = api.post("/v1/conversations", json={"external_id": "chat-7", "shopper": {"name": "Other"}})
    assert again.status_code == 200
    assert again.get_json()["id"] == first["id"]
    assert len(api.get("/v1/conversations").get_json()["data"]) == 1


def test_external_ids_are_per_workspace(api, api_for):
    other = api_for("pro")
    a = create(api, external_id="same")
    b = create(other, external_id="same")
    assert a["id"] != b["id"]


def test_another_workspaces_conversation_is_404(api, api_for):
    conversation = create(api)
    other = api_for("pro")
    for method, path in [
        ("GET", f"/v1/conversations/{conversation['id']}"),
        ("GET", f"/v1/conversations/{conversation['id']}/messages"),
        ("GET", f"/v1/conversations/{conversation['id']}/events"),
        ("POST", f"/v1/conversations/{conversation['id']}/handover"),
        ("POST", f"/v1/conversations/{conversation['id']}/give-back"),
        ("POST", f"/v1/conversations/{conversation['id']}/resolve"),
    ]:
        response = other.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"]["code"] == "not_found"
    posted = other.post(f"/v1/conversations/{conversation['id']}/messages", json={"author": "shopper", "text": "x"})
    assert posted.status_code == 404
    assert other.get("/v1/conversations").get_json()["data"] == []
    # and nothing changed for the owner
    assert api.get(f"/v1/conversations/{conversation['id']}").get_json() == conversation


def test_unknown_id_is_404(api):
    response = api.get("/v1/conversations/conv_nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == {
        "code": "not_found", "message": "No conversation with that id.", "field": "conversation_id",
    }


def test_list_filters(api):
    a = create(api)
    b = create(api)
    c = create(api)
    api.post(f"/v1/conversations/{b['id']}/handover")
    api.post(f"/v1/conversations/{c['id']}/resolve")

    def ids(query):
        response = api.get(f"/v1/conversations{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.get_json()["data"]]

    assert ids("") == [c["id"], b["id"], a["id"]]  # newest first
    assert ids("?status=open") == [b["id"], a["id"]]
    assert ids("?status=resolved") == [c["id"]]
    assert ids("?needs_you=true") == [b["id"]]
    assert ids("?needs_you=false") == [c["id"], a["id"]]
    assert ids("?status=open&needs_you=false") == [a["id"]]


def test_cursor_pagination_walks_everything_once(api):
    made = [create(api)["id"] for _ in range(7)]
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(f"/v1/conversations{query}").get_json()
        assert len(body["data"]) <= 3
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_bad_list_parameters_name_the_field(api):
    for query, field in [
        ("?status=closed", "status"),
        ("?needs_you=yes", "needs_you"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=abc", "limit"),
        ("?cursor=!!!", "cursor"),
        ("?cursor=Zm9vOmJhcg", "cursor"),
    ]:
        response = api.get(f"/v1/conversations{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["field"] == field
