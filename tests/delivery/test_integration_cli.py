"""Plugin discovery through entry points, and `connector integration set/test/list/remove`.

A throwaway distribution (a ``.dist-info`` folder on PYTHONPATH) declares the test
plugin in the ``handover_connector.plugins`` group, exactly as a third-party package would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.plugin_registry import PluginRegistry
from tests.fakes.vendor import FakeVendor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin_path(tmp_path):
    dist = tmp_path / "site" / "fakedesk_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakedesk-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[handover_connector.plugins]\nfakedesk = tests.plugins.fakedesk:FakeDesk\n"
    )
    return tmp_path / "site"


@pytest.fixture
def cli(tmp_path, plugin_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_path), str(ROOT)])
    env["CONNECTOR_SECRET_KEY"] = "k" * 40

    def run(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)

    return run


def test_entry_points_are_discovered_and_can_be_limited(plugin_path, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_path))
    assert "fakedesk" in PluginRegistry.from_entry_points().names()
    assert PluginRegistry.from_entry_points(allow={"fakedesk"}).names() == ["fakedesk"]
    assert PluginRegistry.from_entry_points(allow={"nothing"}).names() == []
    monkeypatch.setenv("CONNECTOR_PLUGINS", "other")
    assert PluginRegistry.from_entry_points().names() == []


def test_set_list_test_remove_never_show_secrets(cli, tmp_path):
    workspace = json.loads(cli("workspace", "create", "--name", "W", "--json").stdout)["id"]
    with FakeVendor() as vendor:
        saved = cli("integration", "set", workspace, "fakedesk", f"api_base_url={vendor.url}",
                    "api_key=super-secret-key", "signing_secret=another-secret")
        assert saved.returncode == 0, saved.stderr
        listed = cli("integration", "list", workspace)
        tested = cli("integration", "test", workspace, "fakedesk")
    assert listed.returncode == 0, listed.stderr
    assert "fakedesk\tunknown" in listed.stdout
    assert vendor.url in listed.stdout
    assert tested.returncode == 0, tested.stderr + tested.stdout
    assert "fakedesk: ok" in tested.stdout
    for result in (saved, listed, tested):
        for secret in ("super-secret-key", "another-secret"):
            assert secret not in result.stdout + result.stderr
    assert b"super-secret-key" not in (tmp_path / "var" / "connector.db").read_bytes()
    assert "fakedesk\tok" in cli("integration", "list", workspace).stdout

    assert cli("integration", "remove", workspace, "fakedesk").returncode == 0
    assert "fakedesk\t" not in cli("integration", "list", workspace).stdout


def test_bad_settings_name_the_key(cli):
    workspace = json.loads(cli("workspace", "create", "--name", "W", "--json").stdout)["id"]
    missing = cli("integration", "set", workspace, "fakedesk", "api_base_url=http://x")
    assert missing.returncode != 0
    assert "api_key" in missing.stderr
    unknown = cli("integration", "set", workspace, "nodesk", "a=b")
    assert unknown.returncode != 0 and "unknown plugin 'nodesk'" in unknown.stderr
    assert cli("integration", "set", "ws_nope", "fakedesk", "a=b").returncode != 0


def test_a_failing_check_exits_non_zero(cli):
    workspace = json.loads(cli("workspace", "create", "--name", "W", "--json").stdout)["id"]
    with FakeVendor() as vendor:
        vendor.fail_next(1, status=401)
        cli("integration", "set", workspace, "fakedesk", f"api_base_url={vendor.url}", "api_key=k", "signing_secret=s")
        tested = cli("integration", "test", workspace, "fakedesk")
    assert tested.returncode == 1
    assert "FAILED - HTTP 401" in tested.stdout
    assert "unhealthy (HTTP 401)" in cli("integration", "list", workspace).stdout


def test_an_unreachable_vendor_is_explained(cli):
    workspace = json.loads(cli("workspace", "create", "--name", "W", "--json").stdout)["id"]
    with FakeVendor() as vendor:
        url = vendor.url
    cli("integration", "set", workspace, "fakedesk", f"api_base_url={url}", "api_key=k", "signing_secret=s")
    tested = cli("integration", "test", workspace, "fakedesk")  # nothing listens there any more
    assert tested.returncode == 1
    assert f"FAILED - could not reach {url}/me: connection refused" in tested.stdout
    assert "Traceback" not in tested.stderr
