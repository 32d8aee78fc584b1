"""The webhook toolkit: what every plugin's inbound side needs, written once.

* :func:`hmac_matches`: a constant-time HMAC check in the encodings vendors use;
* :func:`fresh`: a signed timestamp within its window (Unix seconds or ISO 8601);
* :func:`signed_by`: which workspaces' secrets sign a request, over the settings cache;
* :class:`UrlTokens`: signed per-workspace URL tokens with rotation (for vendors that
  sign nothing, such as Gorgias);
* :func:`error`: the one JSON error body the connector answers with;
* :func:`retry_after`: a ``Retry-After`` header (seconds or an HTTP date) in seconds.

Each function is pure: raw body, headers, secret and clock in; a verdict out.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import secrets as _secrets
import typing as t

from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from connector.plugins.host import SettingsSource
from connector.plugins.host import WorkspaceKey

Encoding = t.Literal["hex", "base64"]


def hmac_digest(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def hmac_matches(secret: str | bytes, message: bytes, signature: str, *, algorithm: str = "sha256",
                 encoding: Encoding = "hex", prefix: str = "") -> bool:
    """Whether ``signature`` is ``prefix`` + the HMAC of ``message``, compared in constant time."""
    if not signature or not secret:
        return False
    digest = hmac_digest(secret, message, algorithm)
    expected = prefix + (digest.hex() if encoding == "hex" else base64.b64encode(digest).decode())
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def parse_timestamp(value: str) -> dt.datetime | None:
    """Unix seconds or an ISO 8601 time with a zone, as an aware datetime; None if neither."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def fresh(timestamp: str, window: dt.timedelta = dt.timedelta(minutes=5), now: dt.datetime | None = None) -> bool:
    """Whether a signed timestamp lies within ``window`` of now, either way (replays are stale)."""
    at = parse_timestamp(timestamp)
    if at is None:
        return False
    return abs((now or dt.datetime.now(dt.timezone.utc)) - at) <= window


def signed_by(
    source: SettingsSource,
    secrets_of: t.Callable[[t.Any], t.Iterable[str]],
    verify: t.Callable[[str], bool],
) -> frozenset[WorkspaceKey]:
    """The workspaces one of whose secrets ``verify`` accepts.

    Tries the cached settings first, then reads them again once (an integration set up a
    second ago), so a stream of bad signatures costs no more than one read a second.
    """
    for refresh in (False, True):
        matched = frozenset(
            key for key, settings in source.all(refresh)
            if any(verify(secret) for secret in secrets_of(settings) if secret)
        )
        if matched:
            return matched
    return frozenset()


class UrlTokens:
    """Per-workspace URL tokens, signed with the deployment's secret, revocable by rotation.

    A token names a workspace and a nonce; the workspace's settings keep the current
    nonce, so storing a new one (:func:`new_nonce`) makes every older URL fail.
    """

    def __init__(self, secret_key: str, salt: str) -> None:
        self._signer = URLSafeSerializer(secret_key, salt=salt)

    def dumps(self, workspace_id: str, nonce: str) -> str:
        return self._signer.dumps({"w": workspace_id, "n": nonce})

    def loads(self, token: str) -> tuple[str, str] | None:
        """``(workspace id, nonce)`` of a token this deployment signed; None for anything else."""
        if not token or len(token) > 512:
            return None
        try:
            claims = self._signer.loads(token)
        except BadSignature:
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("w"), str) or not isinstance(claims.get("n"), str):
            return None
        return claims["w"], claims["n"]


def new_nonce() -> str:
    return _secrets.token_urlsafe(12)


def nonce_matches(stored: str | None, presented: str) -> bool:
    return stored is not None and hmac.compare_digest(stored.encode(), presented.encode())


def error(status: int, code: str, message: str, field: str | None = None) -> tuple[t.Any, int]:
    """The connector's error answer: ``{"error": {"code", "message", "field"?}}`` with ``status``."""
    from flask import jsonify

    body: dict[str, t.Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return jsonify({"error": body}), status


def retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """A ``Retry-After`` value (delay in seconds, or an HTTP date) as seconds from now; None if unusable."""
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            at = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        seconds = (at - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)
