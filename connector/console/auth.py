"""Console sign-in: one-time expiring links, admin passwords (throttled), sessions and CSRF."""

from __future__ import annotations

import functools
import secrets
import time
import typing as t

from flask import abort
from flask import current_app
from flask import g
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import TooManyRequests
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from connector.security import constant_time_equals
from connector.storage import repository
from connector.storage.database import Database
from connector.storage.models import Admin
from connector.storage.models import Receipt
from connector.storage.models import Workspace
from connector.storage.models import new_id
from connector.storage.models import utcnow

SIGNIN_SALT = "console-signin"
#: how long a sign-in link works, in seconds
SIGNIN_MAX_AGE = 15 * 60


class SigninError(Exception):
    """A sign-in link that is bad, expired or already used; ``str()`` says which."""


def signin_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SIGNIN_SALT)


def signin_link(secret_key: str, base_url: str, workspace_id: str) -> str:
    """A one-time sign-in URL for a workspace's console, valid for 15 minutes."""
    token = signin_serializer(secret_key).dumps({"ws": workspace_id, "nonce": secrets.token_urlsafe(12)})
    return f"{base_url.rstrip('/')}/console/signin/{token}"


def redeem_signin_link(db: Database, secret_key: str, token: str) -> Workspace:
    """The workspace a link signs in to; the link is spent in the same step."""
    try:
        data = signin_serializer(secret_key).loads(token, max_age=SIGNIN_MAX_AGE)
    except SignatureExpired:
        raise SigninError("This sign-in link has expired. Ask for a new one with `connector admin link`.") from None
    except BadSignature:
        raise SigninError("This sign-in link is not valid.") from None
    try:
        with db.write() as session_:
            session_.add(Receipt(source="console-signin", key=data["nonce"], received_at=utcnow()))
            session_.flush()
            workspace = repository.get_workspace(session_, data["ws"])
    except IntegrityError:
        raise SigninError("This sign-in link was already used. Ask for a new one with `connector admin link`.") from None
    if workspace is None:
        raise SigninError("This workspace no longer exists.")
    return workspace


def create_admin(db: Database, workspace_id: str, email: str, name: str, password: str) -> Admin:
    with db.write() as session_:
        workspace = repository.get_workspace(session_, workspace_id)
        if workspace is None:
            raise ValueError(f"no workspace {workspace_id!r}")
        admin = Admin(id=new_id("adm"), workspace_pk=workspace.pk, email=email.lower(), name=name,
                      password_hash=generate_password_hash(password), created_at=utcnow())
        session_.add(admin)
        session_.flush()
        return admin


class SigninThrottle:
    """Failed password sign-ins, counted per account and per client address (the ``limits`` library).

    Past either limit, sign-in answers 429 with ``Retry-After`` until the window moves on,
    right password or not: guessing costs the window, not a second. The counts live in
    Redis when ``CONNECTOR_REDIS_URL`` is set (shared by every process), else in the process.
    A successful sign-in clears its account's count.
    """

    def __init__(self, storage_url: str, per_account: str, per_address: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self.per_account = parse(per_account)
        self.per_address = parse(per_address)

    def _keys(self, email: str, address: str) -> tuple[tuple[t.Any, str, str], ...]:
        return ((self.per_account, "signin-account", email.strip().lower()),
                (self.per_address, "signin-address", address or "unknown"))

    def check(self, email: str, address: str) -> None:
        """:raises TooManyRequests: too many failed sign-ins for this account or from this address."""
        for limit, scope, who in self._keys(email, address):
            if not self.limiter.test(limit, scope, who):
                reset = self.limiter.get_window_stats(limit, scope, who).reset_time
                wait = max(1, int(reset - time.time()) + 1)
                raise TooManyRequests(description=f"Too many failed sign-ins: try again in {wait} seconds.",
                                      retry_after=wait)

    def failed(self, email: str, address: str) -> None:
        for limit, scope, who in self._keys(email, address):
            self.limiter.hit(limit, scope, who)

    def succeeded(self, email: str) -> None:
        self.limiter.clear(self.per_account, "signin-account", email.strip().lower())


def signin_throttle() -> SigninThrottle:
    found = current_app.extensions.get("connector_signin_throttle")
    if found is None:
        settings = current_app.extensions["connector"].settings
        found = current_app.extensions.setdefault("connector_signin_throttle", SigninThrottle(
            settings.redis_url or "memory://", settings.signin_limit_per_account, settings.signin_limit_per_address))
    return found


def check_password(db: Database, email: str, password: str) -> tuple[Admin, Workspace] | None:
    """The admin and workspace of a right e-mail and password, else None; throttled in a request.

    :raises TooManyRequests: too many failed attempts (see :class:`SigninThrottle`).
    """
    throttle = signin_throttle() if current_app else None
    address = (request.remote_addr or "") if request else ""
    if throttle is not None:
        throttle.check(email, address)
    found = _check_password(db, email, password)
    if throttle is not None:
        if found is None:
            throttle.failed(email, address)
        else:
            throttle.succeeded(email)
    return found


def _check_password(db: Database, email: str, password: str) -> tuple[Admin, Workspace] | None:
    with db.read() as session_:
        found = session_.execute(
            select(Admin, Workspace).join(Workspace, Workspace.pk == Admin.workspace_pk)
            .where(Admin.email == email.lower())
        ).first()
    if found is None:
        check_password_hash(generate_password_hash("x"), password)  # same time either way
        return None
    admin, workspace = found
    return (admin, workspace) if check_password_hash(admin.password_hash, password) else None


# -- the browser session -----------------------------------------------------------------


def sign_in(workspace: Workspace, name: str) -> None:
    session.clear()
    session["workspace_id"] = workspace.id
    session["admin"] = name
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """Every state-changing console request carries the session's CSRF token."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    if not sent or not constant_time_equals(sent, session.get("csrf", "")):
        abort(400, description="The form expired or came from another site; reload the page and try again.")


def current_workspace() -> Workspace:
    return g.workspace


def admin_required(view: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """Load the signed-in admin's workspace, or send the browser to sign in."""

    @functools.wraps(view)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        workspace_id = session.get("workspace_id")
        workspace = None
        if workspace_id:
            with current_app.extensions["connector"].db.read() as session_:
                workspace = repository.get_workspace(session_, workspace_id)
        if workspace is None:
            if request.method == "GET" and not request.path.endswith("/stream"):
                return redirect(url_for("console.signin", next=request.full_path))
            abort(401)
        if request.method == "POST":
            check_csrf()
        g.workspace = workspace
        g.admin_name = session.get("admin") or "Admin"
        return view(*args, **kwargs)

    return wrapper
