"""The console (``/console``) and the demo shopper widget (``/demo``)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask import redirect
from flask import url_for

from connector.console import reports_views  # noqa: F401 - registers the reports page
from connector.console import settings_views  # noqa: F401 - registers the settings routes
from connector.console.demo import bp as demo_bp
from connector.console.views import bp as console_bp


def init_app(app: Flask, secret_key: str, secure_cookies: bool, demo_widget: bool = True) -> None:
    app.secret_key = secret_key
    app.config.update(
        SESSION_COOKIE_NAME="connector_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
    )
    app.register_blueprint(console_bp)
    app.add_url_rule("/favicon.ico", "favicon", lambda: redirect(url_for("console.static", filename="favicon.svg"), 301))
    if demo_widget:
        app.register_blueprint(demo_bp)
