"""Issue 14, item 11: console password sign-in is throttled (per account and per client address)."""

from __future__ import annotations

import pytest

from connector.console.auth import create_admin

RIGHT = "correct horse battery"


@pytest.fixture
def admin(connector, make_workspace):
    workspace_id, _ = make_workspace()
    create_admin(connector.db, workspace_id, "bo@shop.example", "Bo", RIGHT)
    create_admin(connector.db, workspace_id, "cy@shop.example", "Cy", RIGHT)
    return workspace_id


def sign_in(client, email, password, address="203.0.113.7"):
    return client.post("/console/signin", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_guessing_a_password_is_throttled_per_account(app, admin):
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "bo@shop.example", "guess").status_code == 401
    refused = sign_in(client, "bo@shop.example", "guess")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # past the limit even the right password waits: guessing costs the window
    assert sign_in(client, "bo@shop.example", RIGHT).status_code == 429
    # from elsewhere too: the count is the account's
    assert sign_in(app.test_client(), "BO@shop.example", RIGHT, address="198.51.100.9").status_code == 429
    # another account is not locked out by it
    assert sign_in(client, "cy@shop.example", RIGHT).status_code == 302


def test_one_address_cannot_spray_every_account(app, connector, admin):
    connector.settings.signin_limit_per_address = "8 per 15 minutes"
    client = app.test_client()
    for n in range(8):
        assert sign_in(client, f"user{n}@shop.example", "guess").status_code == 401
    assert sign_in(client, "cy@shop.example", RIGHT).status_code == 429
    assert sign_in(app.test_client(), "cy@shop.example", RIGHT, address="198.51.100.9").status_code == 302


def test_a_successful_sign_in_clears_the_accounts_count(app, admin):
    client = app.test_client()
    for _ in range(4):
        sign_in(client, "bo@shop.example", "guess")
    assert sign_in(client, "bo@shop.example", RIGHT).status_code == 302
    for _ in range(4):
        assert sign_in(app.test_client(), "bo@shop.example", "guess").status_code == 401
