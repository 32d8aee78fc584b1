"""The Zendesk sidebar app (Zendesk Apps Framework v2), zipped for upload, filled in with our URL.

The sources live in ``manifests/zendesk/`` (``manifest.json``, ``translations/en.json``,
``assets/iframe.html``); ``connector manifests render`` writes the uploadable zip with the
deployment's URL in place of ``{{base_url}}`` and its host in the domain whitelist. The
two logos Zendesk's upload checks for are drawn here (plain squares in the app's colour).
"""

from __future__ import annotations

import io
import struct
import urllib.parse
import zipfile
import zlib
from importlib import resources

FILES = ("manifest.json", "translations/en.json", "assets/iframe.html")
LOGOS = {"assets/logo.png": 320, "assets/logo-small.png": 128}
COLOUR = (31, 115, 183)


def source(path: str) -> str:
    return resources.files("handover_zendesk").joinpath("app", path).read_text()


def render(path: str, base_url: str) -> str:
    base_url = base_url.rstrip("/")
    host = urllib.parse.urlsplit(base_url).netloc
    return source(path).replace("{{base_url}}", base_url).replace("{{host}}", host)


def png(size: int, rgb: tuple[int, int, int] = COLOUR) -> bytes:
    """A solid square PNG, written by hand (a few bytes of zlib), so no imaging library is needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size, 9)) + chunk(b"IEND", b"")


def build_zip(base_url: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in FILES:
            bundle.writestr(path, render(path, base_url))
        for path, size in LOGOS.items():
            bundle.writestr(path, png(size))
    return out.getvalue()
