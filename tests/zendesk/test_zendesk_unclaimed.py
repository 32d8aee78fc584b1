"""A handover nobody claims gets an internal note and a higher priority on its ticket."""

from __future__ import annotations

from tests.draining import drain
from tests.notifications.test_claim_timeouts import time_passes


def test_an_unclaimed_handover_is_noted_and_raised(api, workspace_id, worker, zendesk, database):
    api.put("/v1/settings/handover", json={"enabled": False, "mode": "automate", "scenarios": [],
                                           "claim_timeout_seconds": 300})
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    [ticket] = [t for t in zendesk.tickets.values() if t.get("external_id") == cid]
    assert ticket.get("priority") in (None, "normal")
    time_passes(database)
    drain(worker)
    assert ticket["priority"] == "high"
    notes = [c["body"] for c in ticket["comments"] if not c["public"]]
    assert any("Still waiting for a human: no human replied within 5 min" in n for n in notes), notes
