"""The command line, as a user runs it: a fresh directory, the default SQLite under ./var/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests

ENV = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}


def run(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=60
    )


def test_workspace_create_prints_id_and_key_as_json(tmp_path):
    result = run(["workspace", "create", "--name", "Acme", "--plan", "basic", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"id", "api_key"}
    assert body["id"].startswith("ws_")
    assert (tmp_path / "var" / "connector.db").exists()


def test_db_upgrade(tmp_path):
    result = run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "head" in result.stdout


def test_short_secret_key_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "connector", "db", "upgrade"], cwd=tmp_path,
        env={**ENV, "CONNECTOR_SECRET_KEY": "short"}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "32 characters" in result.stderr


def test_serve_creates_a_demo_workspace_prints_a_key_and_serves(live_server):
    assert f"http://127.0.0.1:{live_server.port}" in "".join(live_server.output)
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    created = requests.post(f"{live_server.base_url}/v1/conversations", json={"shopper": {"name": "Ann"}}, headers=headers, timeout=5)
    assert created.status_code == 201
    handed = requests.post(f"{live_server.base_url}/v1/conversations/{created.json()['id']}/handover", headers=headers, timeout=5)
    assert handed.json()["needs_you"] is True
    key_file = live_server.cwd / "var" / "demo-api-key"
    assert key_file.read_text().strip() == live_server.api_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_demo_links_are_revoked_from_the_command_line(tmp_path):
    """Issue 14, item 6: `connector demo link WS --revoke` ends every earlier widget link."""
    from connector.app import create_app
    from connector.config import Settings

    created = json.loads(run(["workspace", "create", "--name", "Acme", "--json"], tmp_path).stdout)
    first = run(["demo", "link", created["id"]], tmp_path)
    assert first.returncode == 0, first.stderr
    old = first.stdout.strip().splitlines()[-1]
    revoked = run(["demo", "link", created["id"], "--revoke"], tmp_path)
    assert revoked.returncode == 0 and "no longer work" in revoked.stdout
    new = revoked.stdout.strip().splitlines()[-1]
    secret = (tmp_path / "var" / "secret_key").read_text().strip()
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/var/connector.db", secret_key=secret))
    client = app.test_client()
    path = lambda url: "/" + url.split("://", 1)[1].split("/", 1)[1]  # noqa: E731
    assert client.get(path(old)).status_code == 404
    assert client.get(path(new)).status_code == 200
