"""bolt's OAuth installation store, with the tokens encrypted at rest.

slack-sdk's ``SQLAlchemyInstallationStore`` keeps bot and user tokens in clear; everything
else the connector keeps secret is encrypted with the deployment's key. This wrapper
encrypts the tokens on the way in and decrypts them on the way out, through the host.
"""

from __future__ import annotations

import copy
import typing as t

from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store import InstallationStore

#: marks a value this store encrypted (older rows, written in clear, are read as they are)
PREFIX = "enc:"
#: the token fields of bolt's Installation and Bot
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")

T = t.TypeVar("T", Installation, Bot)


class EncryptedInstallationStore(InstallationStore):
    """Delegates to ``inner``; the tokens it stores are ``enc:`` + the host's encryption."""

    def __init__(self, inner: InstallationStore, encrypt: t.Callable[[str], str],
                 decrypt: t.Callable[[str], str]) -> None:
        self.inner = inner
        self._encrypt = encrypt
        self._decrypt = decrypt

    @property
    def logger(self) -> t.Any:
        return self.inner.logger

    def _sealed(self, item: T) -> T:
        sealed = copy.copy(item)
        for name in TOKEN_FIELDS:
            value = getattr(sealed, name, None)
            if value and not value.startswith(PREFIX):
                setattr(sealed, name, PREFIX + self._encrypt(value))
        return sealed

    def _opened(self, item: T | None) -> T | None:
        if item is None:
            return None
        opened = copy.copy(item)
        for name in TOKEN_FIELDS:
            value = getattr(opened, name, None)
            if value and value.startswith(PREFIX):
                setattr(opened, name, self._decrypt(value[len(PREFIX):]))
        return opened

    def save(self, installation: Installation) -> None:
        self.inner.save(self._sealed(installation))

    def save_bot(self, bot: Bot) -> None:
        self.inner.save_bot(self._sealed(bot))

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        return self._opened(self.inner.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                                is_enterprise_install=is_enterprise_install))

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        return self._opened(self.inner.find_installation(enterprise_id=enterprise_id, team_id=team_id,
                                                         user_id=user_id, is_enterprise_install=is_enterprise_install))

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.inner.delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None = None) -> None:
        self.inner.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.inner.delete_all(enterprise_id=enterprise_id, team_id=team_id)
