"""Console → Reports: how long shoppers wait for a human, from ``GET /v1/reports/handovers``."""

from __future__ import annotations

import datetime as dt
import typing as t

from flask import g
from flask import render_template
from flask import request

from connector import reports
from connector.console import auth
from connector.console import charts
from connector.console.views import bp
from connector.console.views import connector

PERIODS = {"7": 7, "30": 30, "90": 90}


@bp.get("/reports")
@auth.admin_required
def reports_page() -> t.Any:
    days = PERIODS.get(request.args.get("days", "30"), 30)
    until = dt.datetime.now(dt.timezone.utc)
    since = (until - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    with connector().db.read() as session:
        report = reports.handover_report(session, g.workspace.pk, since, until)
    day = since.date()
    per_day = []
    while day <= until.date():
        per_day.append((day.isoformat(), report["per_day"].get(day.isoformat(), 0)))
        day += dt.timedelta(days=1)
    split = {name: report[f"by_{name}"] for name in ("source", "scenario")}
    context = {
        "report": report, "days": days, "periods": PERIODS, "duration": charts.duration,
        "per_day_chart": charts.columns(f"Handovers per day, last {days} days", per_day),
        "claim_chart": charts.horizontal_bars(
            "Time to claim by tool (median)",
            [(tool, figures["time_to_claim_seconds"]["p50"]) for tool, figures in split["source"].items()],
            unit=charts.duration),
        "tool_chart": charts.horizontal_bars(
            "Handovers by tool", [(tool, figures["handovers"]) for tool, figures in split["source"].items()]),
        "scenario_chart": charts.horizontal_bars(
            "Handovers by scenario", [(name, figures["handovers"]) for name, figures in split["scenario"].items()],
            empty="No automatic handovers in this period"),
        "workspace": g.workspace, "admin": g.admin_name,
    }
    return render_template("reports.html", **context)
