"""`connector workspace list`: the ids `admin link WORKSPACE` takes, without digging in the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = str(ROOT)
    env["CONNECTOR_SECRET_KEY"] = "k" * 40

    def run(*args):
        result = subprocess.run([sys.executable, "-m", "connector", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def test_workspace_list_feeds_admin_link(cli):
    assert "no workspaces yet" in cli("workspace", "list")
    assert json.loads(cli("workspace", "list", "--json")) == []
    first = json.loads(cli("workspace", "create", "--name", "Acme shop", "--json"))
    second = json.loads(cli("workspace", "create", "--name", "Basic\tshop\nwith odd spaces", "--plan", "basic",
                            "--json"))

    lines = cli("workspace", "list").splitlines()
    assert lines == [f"{first['id']}\tpro\tAcme shop", f"{second['id']}\tbasic\tBasic shop with odd spaces"]
    listed = json.loads(cli("workspace", "list", "--json"))
    assert [(w["id"], w["name"], w["plan"]) for w in listed] == [
        (first["id"], "Acme shop", "pro"), (second["id"], "Basic\tshop\nwith odd spaces", "basic")]
    assert all(w["created_at"].endswith("Z") for w in listed)
    assert first["api_key"] not in json.dumps(listed)  # keys are shown once, at creation

    workspace_id = lines[0].split("\t")[0]
    assert "/console/signin/" in cli("admin", "link", workspace_id)


def test_admin_link_for_an_unknown_workspace_points_at_the_list(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(PYTHONPATH=str(ROOT), CONNECTOR_SECRET_KEY="k" * 40)
    result = subprocess.run([sys.executable, "-m", "connector", "admin", "link", "ws_nope"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "connector workspace list" in result.stderr


def test_commands_naming_an_unknown_workspace_say_how_to_find_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = str(ROOT)
    env["CONNECTOR_SECRET_KEY"] = "k" * 40
    subprocess.run([sys.executable, "-m", "connector", "db", "upgrade"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=60)
    for args in (["admin", "link", "ws_nope"], ["demo", "link", "ws_nope"], ["integration", "list", "ws_nope"]):
        result = subprocess.run([sys.executable, "-m", "connector", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, args
        assert "no workspace 'ws_nope' (`connector workspace list` shows them)" in result.stderr, args
