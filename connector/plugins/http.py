"""Outbound HTTP for plugins on ``requests``: one session with retries off, and vendor
answers mapped to :class:`~connector.plugins.RetryLater` / :class:`~connector.plugins.GiveUp`.

Retries are the outbox's job (they survive restarts and keep order), so the session
itself never retries.
"""

from __future__ import annotations

import ipaddress
import socket
import typing as t
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import requests
from requests.adapters import HTTPAdapter

from connector.plugins.contract import GiveUp
from connector.plugins.contract import RetryLater
from connector.plugins.webhooks import retry_after

RETRYABLE_STATUS = {408, 409, 423, 425, 429, 500, 502, 503, 504}


def new_session(pool_size: int = 16) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "handover-connector"
    return session


def raise_for_vendor_status(response: requests.Response) -> None:
    """Map a non-2xx answer to RetryLater (passing) or GiveUp (permanent)."""
    if response.ok:
        return
    reason = f"HTTP {response.status_code}"
    if response.status_code in RETRYABLE_STATUS:
        raise RetryLater(reason, retry_after(response.headers.get("Retry-After")))
    raise GiveUp(reason)


def send(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: t.Any) -> requests.Response:
    """One request; network failures and retryable statuses raise RetryLater."""
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise RetryLater("timeout") from None
    except requests.ConnectionError:
        raise RetryLater("connection failed") from None
    raise_for_vendor_status(response)
    return response


# -- calls to addresses a tenant or a vendor's event names -----------------------------------

#: shared address space (RFC 6598, carrier-grade NAT): ``ipaddress`` calls it neither private nor global
SHARED = ipaddress.ip_network("100.64.0.0/10")


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address the call may not reach (or does not resolve)."""


def forbidden_address(address: str) -> bool:
    """Whether an IP address is private, loopback, link-local, shared, reserved, multicast or unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (not ip.is_global or ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_reserved or ip.is_unspecified or (ip.version == 4 and ip in SHARED))


def checked_address(host: str, port: int, allow_private: bool = False) -> str:
    """The address to connect to for ``host``: every address it resolves to must be public.

    :raises AddressRefused: the lookup failed, or an address is not public (unless ``allow_private``).
    """
    if not host:
        raise AddressRefused("no host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise AddressRefused("the host does not resolve") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise AddressRefused("the host does not resolve")
    if not allow_private and any(forbidden_address(a) for a in addresses):
        raise AddressRefused("the host is a private address")
    return addresses[0]


class _PinnedAdapter(HTTPAdapter):
    """Connects to an address checked beforehand, while TLS checks the certificate of the host name."""

    def __init__(self, hostname: str) -> None:
        super().__init__(max_retries=0)
        self._hostname = hostname

    def build_connection_pool_key_attributes(self, request: t.Any, verify: t.Any, cert: t.Any = None) -> t.Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


def pinned_request(method: str, url: str, *, timeout: float, allow_private: bool = False,
                   headers: dict[str, str] | None = None, **kwargs: t.Any) -> requests.Response:
    """One request to ``url`` that connects to the address just checked, never following a redirect.

    The host is resolved once; the connection goes to that address (so a name that resolves
    to a public address for the check and to a private one for the connection, DNS
    rebinding, reaches nothing private), with the ``Host`` header and, for HTTPS, the
    certificate check and SNI of the original name. Redirects come back as 3xx answers.

    :raises AddressRefused: see :func:`checked_address`.
    :raises requests.RequestException: the connection failed or timed out.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_address(parts.hostname, port, allow_private)
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    sent = {**(headers or {}), "Host": parts.netloc.rsplit("@", 1)[-1]}
    session = requests.Session()  # one-off; a streamed answer keeps its connection until read
    session.trust_env = False  # no proxy from the environment: the checked address is the one reached
    session.mount(f"{parts.scheme}://", _PinnedAdapter(parts.hostname))
    session.headers["User-Agent"] = "handover-connector"
    return session.request(method, pinned, timeout=timeout, headers=sent, allow_redirects=False, **kwargs)


def connection_error_word(exc: BaseException) -> str:
    """What a tenant may see of a failed connection: "timed out" or "refused", nothing of the network."""
    return "timed out" if isinstance(exc, requests.Timeout) else "refused"
