"""Console settings: Notifications, Train -> Abilities (Handover to human), Integrations."""

from __future__ import annotations

import typing as t

from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy import update

from connector import workspace_settings
from connector.api import schemas
from connector.console import auth
from connector.console.views import bp
from connector.console.views import connector
from connector.delivery import failures
from connector.delivery import outbox
from connector.notifications.mailer import list_mail_files
from connector.storage.models import Delivery
from connector.storage.models import utcnow

#: The seed's descriptions of the two Handover behavior modes.
MODES = [
    ("automate", "Automate", "Pause the chat, hand over to an admin, and notify the user via email when admin joins."),
    ("semi_automate", "Semi-automate", "Keep the AI chatting and email the admin to decide whether to hand over."),
]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


# -- notifications -----------------------------------------------------------------------


@bp.route("/settings/notifications", methods=["GET", "POST"])
@auth.admin_required
def notifications() -> t.Any:
    recipients = workspace_settings.read_section(g.workspace, "notifications").get("recipients", [])
    if request.method == "POST":
        lines = [line.strip() for line in request.form.get("recipients", "").replace(",", "\n").splitlines()]
        try:
            body = schemas.NotificationSettings(recipients=[line for line in lines if line])
        except ValidationError as exc:
            flash(_first_error(exc), "error")
            return render_template("notifications.html", recipients=lines, mails=_mails(), workspace=g.workspace,
                                   admin=g.admin_name), 400
        workspace_settings.store_section(connector().db, g.workspace, "notifications",
                                         {"recipients": [str(r) for r in body.recipients]})
        flash("Notification recipients saved.", "ok")
        return redirect(url_for("console.notifications"))
    return render_template("notifications.html", recipients=recipients, mails=_mails(), workspace=g.workspace,
                           admin=g.admin_name)


def _mails() -> list[dict[str, t.Any]] | None:
    """E-mails written as files (no SMTP configured), newest first; None with SMTP."""
    return None if connector().settings.smtp_url else list_mail_files()


# -- Train -> Abilities -> Handover to human ---------------------------------------------

#: a scenario's sensitivity choices: value, label ("" = the mode's default)
SENSITIVITIES = [
    ("", "Default (low in Automate, medium in Semi-automate)"),
    ("low", "Low: only when sure"),
    ("medium", "Medium"),
    ("high", "High: catch more, more false alarms"),
]


def _scenarios_from_form() -> list[dict[str, t.Any]]:
    names = request.form.getlist("scenario_name")
    instructions = request.form.getlist("scenario_instruction")
    examples = request.form.getlist("scenario_examples")
    sensitivities = request.form.getlist("scenario_sensitivity")
    sensitivities += [""] * (len(names) - len(sensitivities))
    remove = request.form.get("remove")
    scenarios = []
    for index, (name, instruction, example_text, sensitivity) in enumerate(zip(names, instructions, examples, sensitivities)):
        if str(index) == remove or not (name.strip() or instruction.strip()):
            continue  # removed, or the empty "add a scenario" row
        scenario = {
            "name": name.strip(), "instruction": instruction.strip(),
            "examples": [line.strip() for line in example_text.splitlines() if line.strip()],
        }
        if sensitivity:  # empty: the mode's default
            scenario["sensitivity"] = sensitivity
        scenarios.append(scenario)
    return scenarios


def _claim_timeout_from_form() -> dict[str, t.Any]:
    """The claim timeout, edited in minutes (empty: off)."""
    raw = (request.form.get("claim_timeout_minutes") or "").strip()
    try:
        seconds = round(float(raw) * 60) if raw else None
    except ValueError:
        seconds = -1  # refused by the schema, with its message
    return {"claim_timeout_seconds": seconds, "unclaimed_action": request.form.get("unclaimed_action", "remind")}


@bp.route("/train/abilities", methods=["GET", "POST"])
@auth.admin_required
def abilities() -> t.Any:
    current = workspace_settings.read_section(g.workspace, "handover")
    allowed = workspace_settings.may_enable_handover(g.workspace)
    context = {"modes": MODES, "allowed": allowed, "workspace": g.workspace, "admin": g.admin_name,
               "sensitivities": SENSITIVITIES}
    if request.method == "GET":
        return render_template("abilities.html", handover=current, **context)
    proposed = {
        "enabled": request.form.get("enabled") == "on",
        "mode": request.form.get("mode", "automate"),
        "scenarios": _scenarios_from_form(),
        **_claim_timeout_from_form(),
    }
    try:
        body = schemas.HandoverSettings.model_validate(proposed)
    except ValidationError as exc:
        flash(_first_error(exc), "error")
        return render_template("abilities.html", handover=proposed, **context), 400
    if body.enabled and not allowed:
        flash("Your plan does not include the Handover to human ability.", "error")
        return render_template("abilities.html", handover=proposed, **context), 402
    workspace_settings.store_section(connector().db, g.workspace, "handover", body.model_dump(mode="json"))
    flash("Handover to human saved.", "ok")
    return redirect(url_for("console.abilities"))


# -- integrations and failed deliveries --------------------------------------------------


@bp.get("/settings/integrations")
@auth.admin_required
def integrations() -> t.Any:
    store = connector().integrations
    with connector().db.read() as session:
        configured = {row.plugin: row for row in store.installed(session, g.workspace.pk)}
        failing = failures.failing_deliveries(session, g.workspace.pk, limit=100)
    titles = {p.name: p.title for p in connector().plugins}
    titles.setdefault("platform", "Chat platform webhook")
    plugins = [{"name": p.name, "title": p.title, "row": configured.get(p.name),
                "install_url": p.install_url(g.workspace.id)} for p in connector().plugins]
    return render_template("integrations.html", plugins=plugins, failing=failing, titles=titles,
                           workspace=g.workspace, admin=g.admin_name)


@bp.post("/settings/integrations/<plugin>/test")
@auth.admin_required
def test_integration(plugin: str) -> t.Any:
    if connector().plugins.get(plugin) is None:
        abort(404)
    health = connector().integrations.run_check(connector().db, g.workspace.pk, plugin,
                                                connector().settings.delivery_timeout)
    if health is None:
        flash(f"{plugin} is not set up for this workspace.", "error")
    else:
        flash(f"{plugin}: {'working' if health.ok else 'not working'} ({health.detail})", "ok" if health.ok else "error")
    return redirect(url_for("console.integrations"))


@bp.post("/deliveries/<delivery_id>/retry")
@auth.admin_required
def retry_delivery(delivery_id: str) -> t.Any:
    """Retry a failing delivery now: a dead one gets a fresh set of attempts, a waiting one skips its wait."""
    with connector().db.write() as session:
        failure = failures.find_failing(session, g.workspace.pk, delivery_id)
        if failure is None:
            owned = session.scalar(select(Delivery.pk).where(
                Delivery.id == delivery_id, Delivery.workspace_pk == g.workspace.pk))
            if owned is None:
                abort(404)
            queued = False
        elif failure.status == failures.DEAD:
            queued = outbox.replay(session, delivery_id)
        else:
            queued = _try_now(session, delivery_id)
    if queued and connector().worker is not None:
        connector().worker.wake()
    if queued:
        flash("Delivery queued again.", "ok")
    else:
        flash("That delivery is not failing any more (or is being tried right now).", "error")
    return redirect(url_for("console.integrations"))


def _try_now(session: t.Any, delivery_id: str) -> bool:
    """A pending delivery waiting after a failure becomes due now; nothing else changes.

    Guarded on the status, like every outbox change (a worker that claimed it meanwhile wins).
    """
    result = session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status == failures.PENDING)
        .values(next_attempt_at=utcnow())
    )
    return result.rowcount == 1
