"""Shopper text reaches Zendesk's HTML notes escaped: markup is shown as typed, never rendered."""

from __future__ import annotations

from tests.draining import drain

NAME = "Ann <img src=x onerror=alert(1)>"
TEXT = "<@U123> <https://x|y> <script>alert('x')</script> & <b>bold</b>"


def test_shopper_names_and_texts_reach_zendesk_escaped(api, workspace_id, worker, zendesk):
    cid = api.post("/v1/conversations", json={"shopper": {"name": NAME}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": TEXT})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "<i>AI</i> says & hi"})
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    [ticket] = [t for t in zendesk.tickets.values() if t.get("external_id") == cid]
    notes = [c for c in ticket["comments"] if not c["public"]]
    html = "".join(c.get("html_body") or "" for c in notes)
    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html and "<i>AI" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&amp; &lt;b&gt;bold&lt;/b&gt;" in html and "&lt;@U123&gt; &lt;https://x|y&gt;" in html
