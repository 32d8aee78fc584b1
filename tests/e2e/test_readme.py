"""The README's curl walk-through works as written against a live server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import requests

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    section = text.split("## Walk through the whole lifecycle with curl", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_readme_walkthrough(live_server):
    script = walkthrough().replace("127.0.0.1:8000", f"127.0.0.1:{live_server.port}")
    script = "set -euo pipefail\n" + script + '\necho "CID=$CID"\n'
    result = subprocess.run(["bash", "-c", script], cwd=live_server.cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"code":"human_in_control"' in result.stdout
    assert '"code":"already_resolved"' in result.stdout
    cid = re.search(r"CID=(conv_\w+)", result.stdout).group(1)

    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    base = f"{live_server.base_url}/v1/conversations/{cid}"
    conversation = requests.get(base, headers=headers, timeout=5).json()
    assert (conversation["status"], conversation["controller"]) == ("open", "ai")
    events = [e["type"] for e in requests.get(f"{base}/events", headers=headers, timeout=5).json()["data"]]
    assert events == ["handed_over", "human_joined", "given_back", "resolved", "reopened"]
    authors = [m["author"] for m in requests.get(f"{base}/messages", headers=headers, timeout=5).json()["data"]]
    assert authors == ["shopper", "ai", "human", "shopper"]
    settings = requests.get(f"{live_server.base_url}/v1/settings/handover", headers=headers, timeout=5).json()
    assert settings["enabled"] is True and settings["mode"] == "semi_automate"
