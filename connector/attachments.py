"""Files agents send from their tools, served to the shopper through signed, expiring links.

A plugin that fetches a file from its vendor (a Slack ``file_share``, say) stores it with
:meth:`AttachmentStore.save` and gets back a message attachment whose URL is
``<base URL>/files/<token>``: the token is signed with the deployment's secret key, names
the stored file, and stops working after ``CONNECTOR_ATTACHMENT_LINK_SECONDS``. Files
live under ``./var/attachments/`` by default (``CONNECTOR_ATTACHMENTS_DIR``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import typing as t
from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import send_file
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer

from connector.security import private_dir
from connector.security import write_private

SALT = "connector.attachment"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")

bp = Blueprint("attachments", __name__)


class TooLarge(ValueError):
    """The file is larger than ``CONNECTOR_ATTACHMENT_MAX_BYTES``."""


class AttachmentStore:
    def __init__(self, root: Path, secret_key: str, base_url: str, link_seconds: int) -> None:
        self.root = Path(root).resolve()  # ./var/ is relative to where the connector started
        self.base_url = base_url.rstrip("/")
        self.link_seconds = link_seconds
        self._signer = URLSafeTimedSerializer(secret_key, salt=SALT)

    def save(self, workspace_id: str, name: str, content_type: str, chunks: t.Iterable[bytes],
             max_bytes: int) -> dict[str, str]:
        """Store a file (streamed in ``chunks``) and return its message attachment."""
        file_id = secrets.token_urlsafe(18)
        private_dir(self.root)
        folder = private_dir(self.root / workspace_id)
        path = folder / file_id
        size = 0
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"{name} is larger than {max_bytes} bytes")
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        shown = _SAFE_NAME.sub("_", name).strip() or "file"
        write_private(folder / f"{file_id}.json", json.dumps({"name": shown, "content_type": content_type}).encode())
        token = self._signer.dumps({"w": workspace_id, "f": file_id})
        return {"url": f"{self.base_url}/files/{token}", "name": shown, "content_type": content_type}

    def open(self, token: str) -> tuple[Path, dict[str, str]] | None:
        """The stored file a link names, or None when the link is forged, expired or gone."""
        try:
            claims = self._signer.loads(token, max_age=self.link_seconds)
        except (SignatureExpired, BadSignature):
            return None
        folder = self.root / str(claims["w"])
        path = folder / str(claims["f"])
        meta = folder / f"{claims['f']}.json"
        if not path.is_file() or not meta.is_file():
            return None
        return path, json.loads(meta.read_text())


@bp.get("/files/<token>")
def download(token: str) -> t.Any:
    store: AttachmentStore = current_app.extensions["connector"].attachments
    found = store.open(token)
    if found is None:
        return jsonify({"error": {"code": "link_invalid", "message": "This link is invalid or has expired."}}), 404
    path, meta = found
    response = send_file(path, mimetype=meta["content_type"], download_name=meta["name"],
                         as_attachment=not meta["content_type"].startswith("image/"), max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
