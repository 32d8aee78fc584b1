"""`connector integration set/test WS intercom ...` through the real CLI, against the fake Intercom API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.intercom_api import FakeIntercom

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = str(ROOT)
    env["CONNECTOR_SECRET_KEY"] = "k" * 40

    def run(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)

    return run


def test_set_and_test_say_who_the_token_is_and_never_show_secrets(cli, tmp_path):
    workspace = json.loads(cli("workspace", "create", "--name", "W", "--json").stdout)["id"]
    with FakeIntercom(client_secret="client-secret-xyz") as ic:
        bot = ic.add_admin("Handover Bot", token="access-token-xyz")
        args = ("integration", "set", workspace, "intercom", "access_token=access-token-xyz",
                "client_secret=client-secret-xyz", f"admin_id={bot['id']}", f"api_base_url={ic.url}")
        refused = cli(*args)
        ic.define_attribute("conversation", "handover_conversation_id")
        saved = cli(*args)
        tested = cli("integration", "test", workspace, "intercom")
        ic.revoke("access-token-xyz")
        broken = cli("integration", "test", workspace, "intercom")
        assert ic.violations == []
    assert refused.returncode != 0 and "handover_conversation_id" in refused.stderr + refused.stdout
    assert saved.returncode == 0, saved.stderr
    assert tested.returncode == 0 and "authenticated as Handover Bot" in tested.stdout, tested.stdout + tested.stderr
    assert broken.returncode == 1 and "access token" in broken.stdout
    for result in (refused, saved, tested, broken):
        for secret in ("access-token-xyz", "client-secret-xyz"):
            assert secret not in result.stdout + result.stderr
    assert b"access-token-xyz" not in (tmp_path / "var" / "connector.db").read_bytes()
