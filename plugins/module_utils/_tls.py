# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the opsbook.stack.tls_check module (private to the collection).

Reads X.509 certificates with the ``cryptography`` library, or with the
``openssl x509`` command when the library is missing, and fetches the
certificate a TLS endpoint presents (without verifying it: the check is about
expiry, not trust; whether the chain verifies against the system CA store is
found out with a second, verifying handshake and only reported).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import subprocess
from datetime import datetime, timezone
from typing import Any, Callable, List, Tuple

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtensionOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

_PEM_RE = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----\s+.+?-----END (?:X509 |TRUSTED )?CERTIFICATE-----",
    re.DOTALL,
)

# (args, stdin text) -> (rc, stdout, stderr)
Runner = Callable[[List[str], str], Tuple[int, str, str]]


class CertError(Exception):
    """A certificate that cannot be read or parsed; the message says why."""


def _subprocess_runner(args: list, data: str) -> tuple[int, str, str]:
    proc = subprocess.run(args, input=data, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def split_certificates(data: bytes) -> list[bytes]:
    """The DER bytes of every certificate in a PEM bundle or a single DER file.

    Raises CertError when the data holds no certificate.
    """
    blocks = _PEM_RE.findall(data)
    if blocks:
        ders = []
        for block in blocks:
            text = block.decode("ascii", errors="replace")
            text = re.sub(r"-----(BEGIN|END) (X509 |TRUSTED )?CERTIFICATE-----", r"-----\1 CERTIFICATE-----", text)
            try:
                ders.append(ssl.PEM_cert_to_DER_cert(text))
            except ValueError as exc:
                raise CertError(f"broken PEM certificate block: {exc}") from None
        return ders
    if data[:1] == b"\x30":  # ASN.1 SEQUENCE: maybe DER
        return [data]
    raise CertError("no PEM certificate block and not DER")


def _name_rfc4514(name: Any) -> str:
    try:
        return name.rfc4514_string()
    except Exception:  # very old cryptography or odd attribute types
        return ", ".join(f"{attr.oid._name}={attr.value}" for attr in name)


def _common_name(name: Any) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _general_name(entry: Any) -> str:
    if isinstance(entry, x509.DNSName):
        return f"DNS:{entry.value}"
    if isinstance(entry, x509.IPAddress):
        return f"IP:{entry.value}"
    if isinstance(entry, x509.RFC822Name):
        return f"email:{entry.value}"
    if isinstance(entry, x509.UniformResourceIdentifier):
        return f"URI:{entry.value}"
    return f"{type(entry).__name__}:{entry.value}"


def _serial_hex(number: int) -> str:
    """Serial as upper-case hex of whole bytes, the way ``openssl x509 -serial`` prints it."""
    text = f"{number:X}"
    return "0" + text if len(text) % 2 else text


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def info_cryptography(der: bytes) -> dict[str, Any]:
    """Subject, issuer, validity, serial, SAN and fingerprint via cryptography."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, TypeError) as exc:
        raise CertError(f"not a valid X.509 certificate ({exc})") from None
    try:
        san_ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        san = [_general_name(entry) for entry in san_ext.value]
    except x509.ExtensionNotFound:
        san = []
    except ValueError:  # malformed extensions
        san = []
    not_after = getattr(cert, "not_valid_after_utc", None) or _utc(cert.not_valid_after)
    not_before = getattr(cert, "not_valid_before_utc", None) or _utc(cert.not_valid_before)
    return {
        "subject": _name_rfc4514(cert.subject),
        "common_name": _common_name(cert.subject),
        "issuer": _name_rfc4514(cert.issuer),
        "not_before": not_before,
        "not_after": not_after,
        "serial": _serial_hex(cert.serial_number),
        "san": san,
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        "self_signed": cert.subject == cert.issuer,
    }


def _openssl_date(text: str) -> datetime:
    return datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)


def info_openssl(der: bytes, openssl: str, runner: Runner | None = None) -> dict[str, Any]:
    """The same fields as :func:`info_cryptography`, from ``openssl x509`` output."""
    run = runner or _subprocess_runner
    pem = ssl.DER_cert_to_PEM_cert(der)
    args = [
        openssl, "x509", "-noout", "-nameopt", "RFC2253", "-subject", "-issuer", "-serial",
        "-startdate", "-enddate", "-fingerprint", "-sha256", "-ext", "subjectAltName",
    ]
    rc, out, err = run(args, pem)
    if rc != 0:
        reason = (err or out).strip().splitlines()
        raise CertError(f"openssl cannot read it ({reason[0] if reason else f'rc {rc}'})")
    fields: dict[str, Any] = {"san": []}
    lines = out.splitlines()
    for number, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if line.startswith("X509v3 Subject Alternative Name"):
            entries = lines[number + 1].split(",") if number + 1 < len(lines) else []
            fields["san"] = [entry.strip().replace("IP Address:", "IP:") for entry in entries if entry.strip()]
        elif sep and key.strip() in ("subject", "issuer", "serial", "notBefore", "notAfter", "sha256 Fingerprint"):
            fields[key.strip()] = value.strip()
    try:
        not_after = _openssl_date(fields["notAfter"])
        not_before = _openssl_date(fields["notBefore"])
    except (KeyError, ValueError) as exc:
        raise CertError(f"cannot read the validity dates from openssl output ({exc})") from None
    subject = fields.get("subject", "")
    match = re.search(r"(?:^|,)CN=((?:[^,\\]|\\.)*)", subject)
    return {
        "subject": subject,
        "common_name": match.group(1) if match else None,
        "issuer": fields.get("issuer", ""),
        "not_before": not_before,
        "not_after": not_after,
        "serial": fields.get("serial", "").upper(),
        "san": fields["san"],
        "fingerprint_sha256": fields.get("sha256 Fingerprint", "").upper(),
        "self_signed": subject == fields.get("issuer", ""),
    }


class Reader:
    """Parses certificates with cryptography, or with the openssl CLI as fallback."""

    def __init__(self, openssl: str | None = None, runner: Runner | None = None, use_cryptography: bool | None = None):
        self.use_cryptography = HAS_CRYPTOGRAPHY if use_cryptography is None else use_cryptography
        self.openssl = openssl
        self.runner = runner
        if not self.use_cryptography and not openssl:
            raise RuntimeError("neither the cryptography library nor the openssl command is available")

    @property
    def backend(self) -> str:
        return "cryptography" if self.use_cryptography else "openssl"

    def info(self, der: bytes) -> dict[str, Any]:
        if self.use_cryptography:
            return info_cryptography(der)
        return info_openssl(der, str(self.openssl), self.runner)

    def read_file(self, path: str) -> list[dict[str, Any]]:
        """Every certificate of a PEM bundle or DER file, in file order.

        Raises CertError (missing, unreadable, no certificate) with the reason.
        """
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise CertError(f"certificate file {path} does not exist") from None
        except IsADirectoryError:
            raise CertError(f"certificate file {path} is a directory") from None
        except OSError as exc:
            raise CertError(f"cannot read certificate file {path}: {exc.strerror or exc}") from None
        try:
            return [self.info(der) for der in split_certificates(data)]
        except CertError as exc:
            raise CertError(f"{path} holds no readable certificate: {exc}") from None


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _lenient_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass
    return context


class EndpointError(Exception):
    """The endpoint could not be reached or did not complete a TLS handshake."""


def describe_socket_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def fetch_peer(host: str, port: int, server_name: str | None, timeout: float) -> dict[str, Any]:
    """Handshake without verification; the peer's certificate (DER) and session facts."""
    sni = server_name or (None if is_ip(host) else host)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with _lenient_context().wrap_socket(sock, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
                cipher = tls.cipher()
                peer = tls.getpeername()
                protocol = tls.version()
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise EndpointError(describe_socket_error(exc, timeout)) from None
    if not der:
        raise EndpointError("the server sent no certificate")
    return {
        "der": der,
        "protocol": protocol,
        "cipher": cipher[0] if cipher else None,
        "address": f"{peer[0]}:{peer[1]}" if peer else None,
        "server_name": sni,
    }


def verify_peer(
    host: str, port: int, server_name: str | None, timeout: float, cafile: str | None = None
) -> tuple[bool | None, str | None]:
    """Whether the chain and host name verify against the system CA store (or ``cafile``).

    Returns (True, None), (False, reason) or (None, reason) when it could not be found out.
    """
    context = ssl.create_default_context(cafile=cafile)
    name = server_name or host.strip("[]")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=name):
                return True, None
    except ssl.SSLCertVerificationError as exc:
        return False, str(exc.verify_message or exc.reason or exc)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return None, describe_socket_error(exc, timeout)


def days_left(not_after: datetime, now: datetime) -> float:
    return round((not_after - now).total_seconds() / 86400.0, 1)
