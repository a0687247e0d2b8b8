"""Certificates and TLS servers on 127.0.0.1 for the tls_check and http_check tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = dt.timezone.utc
# The moment the certificates' validity is counted from.
NOW = dt.datetime.now(UTC)


def make_cert(
    directory: Path,
    name: str,
    *,
    days: float = 365,
    starts: float = -1,
    cn: str = "localhost",
    issuer: tuple[Any, x509.Certificate] | None = None,
    ca: bool = False,
) -> tuple[Path, Path, x509.Certificate, Any]:
    """An EC certificate for localhost/127.0.0.1 valid from NOW+starts to NOW+days (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    sign_key, issuer_name = (issuer[0], issuer[1].subject) if issuer else (key, subject)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=starts))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(cn), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(sign_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, cert, key


def certificate_files(directory: Path) -> dict[str, Path]:
    """Valid, near expiry, expired and future certificates, a CA with a leaf, a bundle, DER, garbage (PEM files in directory)."""
    out: dict[str, Path] = {}
    out["valid"] = make_cert(directory, "valid", days=365)[0]
    out["near"] = make_cert(directory, "near", days=3)[0]
    out["expired"] = make_cert(directory, "expired", days=-2, starts=-30)[0]
    out["future"] = make_cert(directory, "future", days=100, starts=5)[0]
    # a CA and a leaf it signed; a bundle (leaf first) where the CA expires before the leaf
    out["ca"], _key_path, ca_cert, ca_key = make_cert(directory, "ca", days=20, cn="Test CA", ca=True)
    out["leaf"], out["leaf_key"] = make_cert(directory, "leaf", days=200, issuer=(ca_key, ca_cert))[:2]
    out["bundle"] = directory / "bundle.pem"
    out["bundle"].write_bytes(out["leaf"].read_bytes() + out["ca"].read_bytes())
    out["der"] = directory / "valid.der"
    out["der"].write_bytes(ssl.PEM_cert_to_DER_cert(out["valid"].read_text()))
    out["garbage"] = directory / "garbage.pem"
    out["garbage"].write_text("this is not a certificate\n")
    out["broken"] = directory / "broken.pem"
    out["broken"].write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    out["key_only"] = out["leaf_key"]
    out["dir"] = directory
    return out


class TLSServer:
    """Accepts TLS connections and completes the handshake (then closes)."""

    def __init__(self, cert: Path, key: Path, tls: bool = True):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while self.running:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            if self.tls:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            else:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()
        except (OSError, ssl.SSLError):
            conn.close()

    def close(self) -> None:
        self.running = False
        self.sock.close()


def tls_servers(certs: dict[str, Path]) -> dict[str, TLSServer]:
    """A server with the leaf certificate, one with the expired one, and one that does not speak TLS."""
    return {
        "leaf": TLSServer(certs["leaf"], certs["leaf_key"]),
        "expired": TLSServer(certs["expired"], certs["expired"].with_suffix(".key")),
        "plain": TLSServer(certs["leaf"], certs["leaf_key"], tls=False),
    }


# Fixtures for test modules that import them (``from helpers.tls import certs, servers``).
@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The certificate files of certificate_files(), once per test module."""
    return certificate_files(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def servers(request: pytest.FixtureRequest):
    """The TLS servers of tls_servers() on the module's ``certs``, closed after the module."""
    started = tls_servers(request.getfixturevalue("certs"))
    yield started
    for server in started.values():
        server.close()
