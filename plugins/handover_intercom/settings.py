"""What ``connector integration set WS intercom ...`` stores."""

from __future__ import annotations

import typing as t

from intercom.environment import IntercomEnvironment
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SecretStr
from pydantic import field_validator

#: The SDK's environments, by the region an admin names.
REGION_URLS = {"us": IntercomEnvironment.US_PRODUCTION.value, "eu": IntercomEnvironment.EU_PRODUCTION.value,
               "au": IntercomEnvironment.AU_PRODUCTION.value}


class IntercomSettings(BaseModel):
    """One Intercom workspace, reached through a Developer Hub app."""

    model_config = ConfigDict(extra="forbid")

    #: the app's access token (Developer Hub > Configure > Authentication)
    access_token: SecretStr
    #: the app's client secret (Basic information): signs webhooks and inbox-app requests
    client_secret: SecretStr
    #: the admin (teammate or bot) our notes, closes and tags are made as
    admin_id: str = Field(pattern=r"^\d{1,20}$")
    #: the workspace's data centre
    region: t.Literal["us", "eu", "au"] = "us"
    #: overrides the region's host (tests, proxies)
    api_base_url: str | None = None

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        return self.api_base_url or REGION_URLS[self.region]
