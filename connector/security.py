"""Secrets at rest, webhook signing secrets and constant-time comparisons."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


class SecretBox:
    """Encrypts secrets at rest with a key derived from ``CONNECTOR_SECRET_KEY``.

    The Fernet key is derived with HKDF-SHA256 and a fixed purpose label, so the same
    secret key can serve other purposes (signed links) without key reuse.
    """

    def __init__(self, secret_key: str, purpose: bytes = b"handover-connector secrets at rest") -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong CONNECTOR_SECRET_KEY or corrupted value") from exc


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def fingerprint(value: str) -> str:
    """A short, non-reversible tag for a secret, safe to log or show."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Make sure directory ``path`` exists; what this creates is readable by its owner only (0700).

    :param tighten: also make an existing ``path`` 0700 (for the connector's own directories,
        never for a directory somebody else chose, such as the one of a SQLite file).
    """
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, 0o700)
    if tighten and not missing:
        os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def create_private(path: Path) -> None:
    """Create an empty file only its owner can read (0600), unless it exists."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
