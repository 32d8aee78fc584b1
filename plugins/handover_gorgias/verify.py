"""The hook URL token, and strict reading of the values Gorgias' templates send.

Gorgias signs nothing, so the URL is the credential: ``/hooks/gorgias/<token>``, where the
token names the workspace and a nonce kept in its settings, signed with the deployment's
secret. Rotating the nonce makes every older URL fail. Pure functions: token and stored
settings in, a verdict out; the tokens themselves are the port's
:class:`~connector.plugins.webhooks.UrlTokens`, keyed with the deployment's secret.
"""

from __future__ import annotations

import json
import typing as t

from connector.plugins import webhooks

#: the salt of the hook tokens (``host.url_tokens(SALT)``: a :class:`~connector.plugins.webhooks.UrlTokens`)
SALT = "handover-gorgias-hook"


def token_matches(claims: tuple[str, str] | None, workspace_id: str | None, nonce: str | None) -> bool:
    """Whether a token's claims name this workspace and its current nonce (constant time)."""
    if claims is None or not workspace_id or claims[0] != workspace_id:
        return False
    return webhooks.nonce_matches(nonce, claims[1])


def new_nonce() -> str:
    return webhooks.new_nonce()


# -- strict values ---------------------------------------------------------------------------


class BadField(ValueError):
    """A template value that is not what it must be; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


#: what Jinja prints for a missing value: ``None``, or nothing for an undefined name
_EMPTY = ("", "None")


def optional_str(value: t.Any, field: str) -> str | None:
    if value is None or (isinstance(value, str) and value.strip() in _EMPTY):
        return None
    if not isinstance(value, str):
        raise BadField(field, f"{field} must be a string")
    return value.strip()


def optional_int(value: t.Any, field: str) -> int | None:
    """An id as Gorgias renders it (``"123"``) or sends it (123); None for ``""``/``None``."""
    if value is None or (isinstance(value, str) and value.strip() in _EMPTY):
        return None
    if isinstance(value, bool):
        raise BadField(field, f"{field} must be an id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        number = int(value.strip())
    else:
        raise BadField(field, f"{field} must be an id")
    if number <= 0:
        raise BadField(field, f"{field} must be an id")
    return number


def required_int(value: t.Any, field: str) -> int:
    number = optional_int(value, field)
    if number is None:
        raise BadField(field, f"{field} is required")
    return number


def optional_bool(value: t.Any, field: str) -> bool | None:
    """``True``/``False`` as Gorgias prints booleans (``"False"`` is false), or JSON booleans."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and value.strip() in _EMPTY):
        return None
    if isinstance(value, str) and value.strip() in ("True", "true"):
        return True
    if isinstance(value, str) and value.strip() in ("False", "false"):
        return False
    raise BadField(field, f"{field} must be True or False")


def tag_names(value: t.Any, field: str) -> list[str] | None:
    """``{{ticket.tags|tojson}}``: a JSON list of tag objects (or names), as a string or a list."""
    if value is None or (isinstance(value, str) and value.strip() in _EMPTY):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadField(field, f"{field} must be a JSON list of tags") from None
    if not isinstance(value, list):
        raise BadField(field, f"{field} must be a JSON list of tags")
    names = []
    for tag in value:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if not isinstance(name, str):
            raise BadField(field, f"{field} must be a JSON list of tags")
        names.append(name)
    return names
