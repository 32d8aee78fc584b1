"""Issue 14, item 3: a shopper's unverified e-mail never takes over an existing Zendesk user."""

from __future__ import annotations

from tests.zendesk.conftest import drain


def hand_over(api, worker, name, email):
    cid = api.post("/v1/conversations", json={"shopper": {"name": name, "email": email}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "I want a refund"})
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    return cid


def ticket_of(zendesk, cid):
    [ticket] = [t for t in zendesk.tickets.values() if t["external_id"] == cid]
    return ticket


def test_a_shopper_giving_an_agents_address_gets_a_requester_of_their_own(api, workspace_id, worker, zendesk, agent):
    cid = hand_over(api, worker, "Mallory", "Dana@Shop.example")
    cid2 = hand_over(api, worker, "Mallory", "dana@shop.example")
    # the agent is untouched: same name, same role, same address
    dana = zendesk.users[agent["id"]]
    assert (dana["name"], dana["role"], dana["email"]) == ("Dana Agent", "agent", "dana@shop.example")
    ticket = ticket_of(zendesk, cid)
    assert ticket["requester_id"] != agent["id"]
    requester = zendesk.users[ticket["requester_id"]]
    assert requester["role"] == "end-user" and requester["email"] is None and requester["name"] == "Mallory"
    # the agents are told why the requester has no address
    assert "belongs to another Zendesk user" in ticket["comments"][0]["html_body"]
    # the shopper's later messages are public comments by that requester, never by the agent
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hello?"})
    drain(worker)
    assert all(c["author_id"] != agent["id"] for t in zendesk.tickets.values() for c in t["comments"])
    # and the second conversation with the same address finds our requester again, by external id only
    assert ticket_of(zendesk, cid2)["requester_id"] == ticket["requester_id"]


def test_an_admins_address_is_not_used_either(api, workspace_id, worker, zendesk):
    admin = zendesk.add_agent("Ada Admin", "ada@shop.example", role="admin")
    cid = hand_over(api, worker, "Eve", "ada@shop.example")
    assert zendesk.users[admin["id"]]["role"] == "admin" and zendesk.users[admin["id"]]["name"] == "Ada Admin"
    assert ticket_of(zendesk, cid)["requester_id"] != admin["id"]


def test_an_existing_requester_of_ours_is_not_renamed(api, workspace_id, worker, zendesk):
    first = hand_over(api, worker, "Ann Lee", "ann@example.com")
    requester = ticket_of(zendesk, first)["requester_id"]
    second = hand_over(api, worker, "Someone Else", "ann@example.com")
    assert ticket_of(zendesk, second)["requester_id"] == requester
    assert zendesk.users[requester]["name"] == "Ann Lee" and zendesk.users[requester]["email"] == "ann@example.com"
