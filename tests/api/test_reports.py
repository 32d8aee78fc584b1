"""GET /v1/reports/handovers against a hand-made event log, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from connector.storage import repository
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import new_id

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def seed(database, api_key, story):
    """``story``: per conversation, a list of (minute, event type, source, scenario)."""
    with database.write() as session:
        workspace = repository.workspace_for_key(session, api_key)
        for events in story:
            conversation = Conversation(id=new_id("conv"), workspace_pk=workspace.pk, status="open",
                                        controller="human", ever_handed_over=True, ever_resolved=False,
                                        human_joined=False, created_at=at(0), updated_at=at(0))
            session.add(conversation)
            session.flush()
            for minute, kind, source, scenario in events:
                session.add(Event(id=new_id("evt"), conversation_pk=conversation.pk, type=kind, actor_kind="human",
                                  trigger="automatic" if scenario else "manual", source=source, scenario=scenario,
                                  at=at(minute)))
                session.flush()


STORY = [
    # claimed after 2 min, resolved after 10
    [(0, "handed_over", "slack", None), (2, "human_joined", "slack", None), (10, "resolved", "slack", None)],
    # handed over twice: the first never claimed (given back), the second claimed after 4 min
    [(1, "handed_over", "api", None), (30, "given_back", "api", None),
     (60, "handed_over", "zendesk", None), (64, "human_joined", "zendesk", None)],
    # automatic, never claimed, resolved after 90 min; the next day
    [(24 * 60, "handed_over", "api", "Angry"), (24 * 60 + 90, "resolved", "api", None)],
    # a human reply long after a give back and a new hand over belongs to the second
    [(5, "handed_over", "console", "Angry"), (6, "given_back", "console", None),
     (100, "handed_over", "console", None), (108, "human_joined", "console", None)],
]


def test_the_figures_follow_the_event_log(api, database):
    seed(database, api.api_key, STORY)
    report = api.get("/v1/reports/handovers").get_json()
    assert (report["handovers"], report["claimed"], report["unclaimed"]) == (6, 3, 3)
    assert report["time_to_claim_seconds"] == {"p50": 240.0, "p90": 432.0}  # 120, 240, 480 s, interpolated
    assert report["time_to_resolve_seconds"] == {"p50": 3000.0, "p90": 4920.0}  # 600 and 5400 s
    assert report["by_source"]["console"]["handovers"] == 2 and report["by_source"]["console"]["claimed"] == 1
    assert report["by_source"]["zendesk"]["time_to_claim_seconds"] == {"p50": 240.0, "p90": 240.0}
    assert report["by_scenario"] == {"Angry": {
        "handovers": 2, "claimed": 0, "unclaimed": 2,
        "time_to_claim_seconds": {"p50": None, "p90": None},
        "time_to_resolve_seconds": {"p50": 5400.0, "p90": 5400.0}}}
    assert report["per_day"] == {"2026-11-02": 5, "2026-11-03": 1}


def test_a_window_and_bad_bounds(api, database):
    seed(database, api.api_key, STORY)
    day_two = api.get("/v1/reports/handovers?since=2026-11-03&until=2026-11-04").get_json()
    assert (day_two["handovers"], day_two["per_day"]) == (1, {"2026-11-03": 1})
    early = api.get("/v1/reports/handovers?until=2026-11-02T09:02:00Z").get_json()
    assert early["handovers"] == 2  # minutes 0 and 1
    bad = api.get("/v1/reports/handovers?since=yesterday")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "since"
    backwards = api.get("/v1/reports/handovers?since=2026-11-04&until=2026-11-03")
    assert backwards.status_code == 400 and backwards.get_json()["error"]["field"] == "until"


def test_other_workspaces_do_not_count(api, api_for, database):
    seed(database, api.api_key, STORY)
    assert api_for("pro").get("/v1/reports/handovers").get_json()["handovers"] == 0
