"""What ``connector integration set WORKSPACE gorgias ...`` takes, validated."""

from __future__ import annotations

import re
import typing as t
import urllib.parse

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import EmailStr
from pydantic import Field
from pydantic import SecretStr
from pydantic import field_validator

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class GorgiasSettings(BaseModel):
    """``connector integration set WORKSPACE gorgias domain=acme email=... api_key=...``"""

    model_config = ConfigDict(extra="forbid")

    #: ``acme`` for acme.gorgias.com (``acme.gorgias.com`` and its URL are accepted too)
    domain: str
    #: the e-mail address of the Gorgias user whose API key this is
    email: EmailStr
    #: Settings > REST API in Gorgias (Basic auth: email and this key)
    api_key: SecretStr = Field(min_length=1)
    #: the API's base URL, default ``https://{domain}.gorgias.com/api`` (proxies, tests)
    api_base_url: str | None = None
    #: ``rotate_token=true``: a new hook URL token; the old URL answers 401 from then on
    rotate_token: bool = False
    #: Gorgias' rate limit window in seconds (20; 10 on Enterprise plans)
    rate_window_seconds: float = Field(default=20.0, gt=0, le=60)
    #: filled in by set-up
    workspace_id: str | None = None
    token_nonce: str | None = None
    integration_id: int | None = None
    macro_id: int | None = None

    @field_validator("domain", mode="before")
    @classmethod
    def _domain(cls, value: t.Any) -> t.Any:
        if not isinstance(value, str):
            return value
        domain = value.strip().lower()
        if "//" in domain:
            domain = urllib.parse.urlsplit(domain).hostname or ""
        domain = domain.split("/")[0].removesuffix(".gorgias.com")
        if not _DOMAIN.match(domain):
            raise ValueError("the Gorgias domain: acme for acme.gorgias.com")
        return domain

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urllib.parse.urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("an http(s) URL such as https://acme.gorgias.com/api")
        if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            raise ValueError("https, so the API key never crosses the network in clear (http only to this machine)")
        return value.strip().rstrip("/")

    @property
    def base_url(self) -> str:
        return self.api_base_url or f"https://{self.domain}.gorgias.com/api"

    @property
    def account(self) -> tuple[str, str]:
        """What the rate limit is counted by: the account (its API) and the user."""
        return self.base_url, str(self.email).lower()
