#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsbook.stack.tls_check: days until certificates (files and TLS endpoints) expire."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: tls_check
short_description: Check how many days X.509 certificates (files and TLS endpoints) have left
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Reads certificate files and the certificates TLS endpoints present, and compares the days until they expire with the
    C(days_left) threshold (direction below). Results follow the opsbook.stack result contract; the value is the number of
    days left (one decimal, negative once expired), unit C(days).
  - "C(tls.cert:<name>): a certificate file (PEM, possibly a bundle, or DER). For a bundle the certificate that expires
    first counts; the details say which. A missing, unreadable or non-certificate file is unknown with the reason."
  - "C(tls.endpoint:<name>): the certificate the server presents. It is fetched without verification (the check is about
    expiry, not trust); whether the chain and host name verify against the system CA store is reported in the details
    (C(verified), C(verify_error)) and does not change the status. A refused connection, timeout or failed handshake is crit."
  - A certificate that is not valid yet is crit.
  - Uses the C(cryptography) Python library, or the C(openssl) command when the library is missing.
options:
  certificates:
    description:
      - Certificate files on the host.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Instance name of the check id (C(tls.cert:<name>)). Defaults to the file's base name. Must be unique.
        type: str
      path:
        description:
          - Path of the certificate file.
        type: path
        required: true
  endpoints:
    description:
      - TLS endpoints to connect to from the host.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Instance name of the check id (C(tls.endpoint:<name>)). Defaults to C(<host>:<port>). Must be unique.
        type: str
      host:
        description:
          - Host name or address to connect to.
        type: str
        required: true
      port:
        description:
          - TCP port.
        type: int
        default: 443
      server_name:
        description:
          - Server name to send (SNI) and to verify the certificate against. Defaults to O(endpoints[].host) (no SNI for an address).
        type: str
  timeout:
    description:
      - Seconds to wait for the connection and the handshake of each endpoint.
    type: float
    default: 10
extends_documentation_fragment:
  - opsbook.stack.checks
notes:
  - "Check names for O(checks): C(certificates), C(endpoints)."
  - "Thresholds (O(thresholds) keys): C(days_left) - warn 30, crit 7, direction below (bad when the days left fall to the level)."
  - "Check ids: C(tls.cert:<name>), C(tls.endpoint:<name>)."
  - Duplicate instance names, a port outside 1-65535 or a timeout <= 0 fail the module; when neither the C(cryptography)
    library nor C(openssl) is on the host the module fails and says to install C(python3-cryptography).
requirements:
  - python3-cryptography (preferred) or the openssl command on the host
seealso:
  - module: opsbook.stack.http_check
  - module: community.crypto.x509_certificate_info
"""

EXAMPLES = r"""
- name: Check the nginx certificate file and what nginx presents
  opsbook.stack.tls_check:
    certificates:
      - path: /etc/nginx/tls/opsbook.crt
    endpoints:
      - host: 127.0.0.1
        port: 443
        server_name: localhost
  register: tls_checks

- name: Warn two months ahead, only the endpoints
  opsbook.stack.tls_check:
    checks: [endpoints]
    thresholds:
      days_left: {warn: 60, crit: 14}
    endpoints:
      - name: public
        host: www.example.com
"""

RETURN = r"""
checks:
  description: One result per certificate file and endpoint, in that order.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable id, C(tls.cert:<name>) or C(tls.endpoint:<name>).
      type: str
      sample: tls.cert:opsbook.crt
    status:
      description: C(ok), C(warn), C(crit) or C(unknown).
      type: str
      sample: ok
    value:
      description: Days until the certificate expires (one decimal, negative when expired), C(null) when not measured.
      type: float
      sample: 364.9
    warn:
      description: Warning level in days.
      type: float
      sample: 30
    crit:
      description: Critical level in days.
      type: float
      sample: 7
    unit:
      description: C(days).
      type: str
      sample: days
    message:
      description: One human sentence.
      type: str
      sample: certificate opsbook.crt (CN=localhost) expires in 364.9 days on 2027-05-01 10:00 UTC (warn <= 30 days, crit <= 7 days)
    details:
      description: >-
        subject, common_name, issuer, not_before, not_after (ISO-8601 UTC), serial (hex), san (list like C(DNS:name),
        C(IP:address)), fingerprint_sha256, self_signed, backend; files also path and certificates_in_file; endpoints also
        host, port, server_name, address, protocol (for example C(TLSv1.3)), cipher, verified and verify_error.
      type: dict
      sample: {"subject": "CN=localhost", "issuer": "CN=localhost", "not_after": "2027-05-01T10:00:00Z",
               "san": ["DNS:localhost", "IP:127.0.0.1"], "protocol": "TLSv1.3", "verified": false,
               "verify_error": "self-signed certificate"}
summary:
  description: Counts per status and the worst status.
  returned: always
  type: dict
  contains:
    ok:
      description: Number of ok results.
      type: int
    warn:
      description: Number of warn results.
      type: int
    crit:
      description: Number of crit results.
      type: int
    unknown:
      description: Number of unknown results.
      type: int
    total:
      description: Number of results.
      type: int
    worst:
      description: Worst status (C(crit) > C(unknown) > C(warn) > C(ok)).
      type: str
  sample: {"ok": 2, "warn": 0, "crit": 0, "unknown": 0, "total": 2, "worst": "ok"}
"""
# pylint: enable=duplicate-code

import os
from datetime import datetime
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    BELOW,
    CRIT,
    THRESHOLDS_SPEC,
    CheckResult,
    Threshold,
    ThresholdError,
    evaluate,
    merge_thresholds,
    module_output,
    result,
    select,
    unknown,
)
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import UTC, format_utc, utc_now
from ansible_collections.opsbook.stack.plugins.module_utils._tls import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    CertError,
    EndpointError,
    Reader,
    days_left,
    fetch_peer,
    verify_peer,
)

KNOWN_CHECKS = ("certificates", "endpoints")
DEFAULTS = {"days_left": Threshold(warn=30.0, crit=7.0, direction=BELOW)}


class OptionError(ValueError):
    """Certificates or endpoints given in a way that cannot be checked."""


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _limits(threshold: Threshold) -> str:
    levels = []
    if threshold.warn is not None:
        levels.append(f"warn <= {_number(threshold.warn)} days")
    if threshold.crit is not None:
        levels.append(f"crit <= {_number(threshold.crit)} days")
    return f" ({', '.join(levels)})" if levels else ""


def expiry_result(
    check_id: str,
    what: str,
    info: dict[str, Any],
    threshold: Threshold,
    now: datetime,
    extra: dict[str, Any],
) -> CheckResult:
    """Days-left result for one certificate, with its facts in the details."""
    details = {
        "subject": info["subject"],
        "common_name": info["common_name"],
        "issuer": info["issuer"],
        "not_before": format_utc(info["not_before"]),
        "not_after": format_utc(info["not_after"]),
        "serial": info["serial"],
        "san": list(info["san"]),
        "fingerprint_sha256": info["fingerprint_sha256"],
        "self_signed": info["self_signed"],
    }
    details.update(extra)
    left = days_left(info["not_after"], now)
    outcome = evaluate(check_id, left, threshold, unit="days", label=what, details=details)
    who = f"{what} ({info['subject'] or 'empty subject'})"
    date = info["not_after"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if left < 0:
        outcome.message = f"{who} expired {_number(-left)} days ago on {date}{_limits(threshold)}"
    else:
        outcome.message = f"{who} expires in {_number(left)} days on {date}{_limits(threshold)}"
    if info["not_before"] > now:
        outcome.status = CRIT
        begins = info["not_before"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        outcome.message = f"{who} is not valid before {begins} (not after {date})"
    return outcome


def check_certificate(item: dict[str, Any], reader: Reader, threshold: Threshold, now: datetime) -> CheckResult:
    check_id = f"tls.cert:{item['name']}"
    path = item["path"]
    try:
        infos = reader.read_file(path)
    except CertError as exc:
        return unknown(check_id, str(exc), details={"path": path, "backend": reader.backend})
    first = min(range(len(infos)), key=lambda index: infos[index]["not_after"])
    extra = {"path": path, "certificates_in_file": len(infos), "backend": reader.backend}
    if len(infos) > 1:
        extra["expires_first"] = f"certificate {first + 1} of {len(infos)} in the file"
    return expiry_result(check_id, f"certificate {item['name']}", infos[first], threshold, now, extra)


def check_endpoint(item: dict[str, Any], reader: Reader, threshold: Threshold, timeout: float) -> CheckResult:
    check_id = f"tls.endpoint:{item['name']}"
    host, port = item["host"], item["port"]
    base = {"host": host, "port": port, "server_name": item.get("server_name"), "backend": reader.backend}
    try:
        peer = fetch_peer(host, port, item.get("server_name"), timeout)
    except EndpointError as exc:
        return result(check_id, CRIT, f"cannot check the certificate of {host}:{port}: {exc}", details=dict(base, error=str(exc)))
    now = utc_now()
    try:
        info = reader.info(peer["der"])
    except CertError as exc:
        return unknown(check_id, f"certificate presented by {host}:{port} cannot be read: {exc}", details=base)
    verified, verify_error = verify_peer(host, port, item.get("server_name"), timeout)
    extra = dict(
        base,
        server_name=peer["server_name"],
        address=peer["address"],
        protocol=peer["protocol"],
        cipher=peer["cipher"],
        verified=verified,
        verify_error=verify_error,
    )
    return expiry_result(check_id, f"certificate of {item['name']}", info, threshold, now, extra)


def prepare(params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Named certificate and endpoint entries; OptionError for duplicates or bad values."""
    if params["timeout"] <= 0:
        raise OptionError(f"timeout must be > 0, got {params['timeout']!r}")
    seen: set[str] = set()
    certificates = []
    for index, item in enumerate(params["certificates"] or []):
        name = item.get("name") or os.path.basename(item["path"].rstrip("/")) or item["path"]
        if f"cert:{name}" in seen:
            raise OptionError(f"certificates[{index}]: duplicate name {name!r}; give the entries distinct names")
        seen.add(f"cert:{name}")
        certificates.append(dict(item, name=name))
    endpoints = []
    for index, item in enumerate(params["endpoints"] or []):
        if not item["host"].strip():
            raise OptionError(f"endpoints[{index}]: host must not be empty")
        if not 1 <= item["port"] <= 65535:
            raise OptionError(f"endpoints[{index}] (host {item['host']!r}): port {item['port']} is not in 1-65535")
        name = item.get("name") or f"{item['host']}:{item['port']}"
        if f"endpoint:{name}" in seen:
            raise OptionError(f"endpoints[{index}]: duplicate name {name!r}; give the entries distinct names")
        seen.add(f"endpoint:{name}")
        endpoints.append(dict(item, name=name))
    return certificates, endpoints


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "certificates": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {"name": {"type": "str"}, "path": {"type": "path", "required": True}},
    },
    "endpoints": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str"},
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 443},
            "server_name": {"type": "str"},
        },
    },
    "timeout": {"type": "float", "default": 10},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        selected = select(module.params["checks"], KNOWN_CHECKS)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        threshold = merge_thresholds(DEFAULTS, module.params["thresholds"])["days_left"]
        certificates, endpoints = prepare(module.params)
    except (ThresholdError, OptionError) as exc:
        module.fail_json(msg=str(exc))

    if "certificates" not in selected:
        certificates = []
    if "endpoints" not in selected:
        endpoints = []
    results: list[CheckResult] = []
    if certificates or endpoints:
        openssl = None if HAS_CRYPTOGRAPHY else module.get_bin_path("openssl")
        if not HAS_CRYPTOGRAPHY and not openssl:
            module.fail_json(
                msg=missing_required_lib("cryptography", reason="to read certificates (or install openssl)")
                + " Install python3-cryptography on the host.",
                exception=str(CRYPTOGRAPHY_IMPORT_ERROR),
            )

        def runner(args: list[str], data: str) -> tuple[int, str, str]:
            return module.run_command(args, data=data, binary_data=True)

        reader = Reader(openssl=openssl, runner=runner)
        now = utc_now()
        for item in certificates:
            results.append(check_certificate(item, reader, threshold, now))
        for item in endpoints:
            results.append(check_endpoint(item, reader, threshold, module.params["timeout"]))
    module.exit_json(changed=False, **module_output(results))


if __name__ == "__main__":
    main()
