"""The pinned connection (platform webhooks, Slack files) still checks TLS against the host name.

It connects to the address it checked, not to a name resolved again; the certificate and SNI
must still be those of the URL's host. A local TLS server whose certificate names only
``localhost`` (no IP address) shows both: the connection goes to 127.0.0.1 and verifies.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.plugins.http import pinned_request


@pytest.fixture
def tls_server(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append((self.headers.get("Host"), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], str(cert_file), seen
    server.shutdown()


def test_https_to_the_checked_address_verifies_the_host_names_certificate(tls_server, monkeypatch):
    port, ca, seen = tls_server
    real = __import__("socket").getaddrinfo
    lookups = []

    def resolve(host, *args, **kwargs):
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr("socket.getaddrinfo", resolve)
    response = pinned_request("POST", f"https://localhost:{port}/hook", data=b"{}", timeout=5,
                              allow_private=True, verify=ca)
    assert response.status_code == 204
    assert seen == [(f"localhost:{port}", b"{}")]
    assert [h for h in lookups if h == "localhost"] == ["localhost"]  # resolved once: the check
    with pytest.raises(requests.exceptions.SSLError):  # and the certificate is still checked
        pinned_request("POST", f"https://localhost:{port}/hook", data=b"{}", timeout=5, allow_private=True)
