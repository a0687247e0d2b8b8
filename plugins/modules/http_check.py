#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsbook.stack.http_check: HTTP(S) status, latency and JSON body assertions."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: http_check
short_description: Check HTTP(S) endpoints - status code, latency and JSON body assertions
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Requests each target URL once (with M(ansible.builtin.uri)'s HTTP client, C(ansible.module_utils.urls), so proxies from
    the environment, CA files and client certificates behave the same) and reports one result per check
    following the opsbook.stack result contract.
  - "C(http.status:<name>): the response status is one of O(targets[].status_codes) (ok) or not (crit).
    A refused connection, timeout, DNS or TLS verification failure is crit with the reason; the other checks of that
    target are then unknown."
  - "C(http.latency:<name>): milliseconds from sending the request until the whole body was read, compared with
    O(targets[].latency) or the C(latency_ms) threshold."
  - "C(http.json:<name>.<assertion>): one per entry of O(targets[].json), where C(<assertion>) is the entry's C(name) or
    else its C(path). Assertions are evaluated on the body of error responses too (a C(/health) answering 503 with a
    JSON document still has its fields checked)."
  - Runs on the host it is delegated to; request URLs as that host sees them.
options:
  targets:
    description:
      - The URLs to check. Each target is requested once.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Instance name used in the check ids (C(http.status:<name>)); must be unique among the targets.
        type: str
        required: true
      url:
        description:
          - The http:// or https:// URL to request. Credentials in the URL are masked in messages.
        type: str
        required: true
      method:
        description:
          - HTTP method. No request body is sent.
        type: str
        default: GET
      timeout:
        description:
          - Seconds to wait for the connection and for each read.
        type: float
        default: 10
      validate_certs:
        description:
          - Verify the server certificate (chain and host name) for https URLs.
          - A failed verification makes C(http.status) crit with the reason.
        type: bool
        default: true
      ca_path:
        description:
          - PEM file with the CA certificate(s) to verify the server against, instead of the system store.
          - For a self-signed server certificate, the certificate file itself (the URL's host must match its names).
        type: path
      client_cert:
        description:
          - PEM file with a client certificate (and optionally its key) for TLS client authentication.
        type: path
      client_key:
        description:
          - PEM file with the key of O(targets[].client_cert) when that file does not hold it.
        type: path
      use_proxy:
        description:
          - Use the proxy from the C(http_proxy)/C(https_proxy)/C(no_proxy) environment of the host, like M(ansible.builtin.uri).
        type: bool
        default: true
      headers:
        description:
          - Extra request headers. Their values are never copied into the results, but they do appear in the task
            invocation; set C(no_log) on the task when a header carries a secret.
        type: dict
        default: {}
      status_codes:
        description:
          - Status codes that count as ok. Redirects are followed, so this is the status of the last response.
        type: list
        elements: int
        default: [200]
      latency:
        description:
          - Latency thresholds in milliseconds for this target, a mapping with C(warn) and C(crit) (direction above).
          - Keys left out come from the module's C(latency_ms) threshold (default warn 500, crit 2000).
        type: dict
      json:
        description:
          - Assertions on the JSON body. Each gives a C(path) and exactly one of C(equals), C(not_equals), C(max_age_hours)
            or C(warn)/C(crit).
          - A body that is not JSON makes every assertion of the target unknown; a missing field gives the assertion's
            C(severity).
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description:
              - Dot path of the field, for example C(scheduler.running) or C(jobs.0.status) (an integer segment indexes a list).
            type: str
            required: true
          name:
            description:
              - Id suffix of the result (C(http.json:<target>.<name>)); defaults to O(targets[].json[].path).
            type: str
          equals:
            description:
              - The field must equal this value. Booleans only equal booleans, numbers compare by value, and a string
                also matches a number, boolean or null with that JSON text (V("true") matches V(true)).
              - C(null) cannot be asserted this way (it reads as "not given").
            type: raw
          not_equals:
            description:
              - The field must not equal this value (same comparison as O(targets[].json[].equals)).
            type: raw
          max_age_hours:
            description:
              - The field is a timestamp that must be at most this many hours old.
              - ISO-8601 text (C(Z), C(+HH:MM), C(+HHMM) offsets, any fraction digits); a timestamp B(without an offset is taken
                as UTC). A number is taken as seconds since the epoch. C(null) counts as too old; text that is no
                timestamp makes the result unknown.
              - The value of the result is the age in hours (unit C(h)).
            type: float
          warn:
            description:
              - Numeric comparison - warning level for the field's value (numbers in strings are accepted).
            type: float
          crit:
            description:
              - Numeric comparison - critical level for the field's value.
            type: float
          direction:
            description:
              - Numeric comparison - C(above) (bad when the value reaches the levels from below) or C(below).
            type: str
            choices: [above, below]
            default: above
          unit:
            description:
              - Numeric comparison - unit of the value, used in the message.
            type: str
            default: ""
          severity:
            description:
              - Status of a failed C(equals), C(not_equals) or C(max_age_hours) assertion, and of a missing field.
            type: str
            choices: [warn, crit]
            default: crit
extends_documentation_fragment:
  - opsbook.stack.checks
notes:
  - "Check names for O(checks): C(status), C(latency), C(json). The request is made when any of them is selected."
  - "Thresholds (O(thresholds) keys): C(latency_ms) - warn 500, crit 2000, direction above, in milliseconds; the default
    for every target's O(targets[].latency)."
  - "Check ids: C(http.status:<name>), C(http.latency:<name>), C(http.json:<name>.<assertion name or path>)."
  - A URL that is not http(s), duplicate names, a missing O(targets[].ca_path) file or an assertion without exactly one
    comparison fail the module with a message naming the target; everything found while checking is a result.
seealso:
  - module: ansible.builtin.uri
  - module: opsbook.stack.tls_check
"""

EXAMPLES = r"""
- name: Check the application directly and through nginx
  opsbook.stack.http_check:
    targets:
      - name: app
        url: http://127.0.0.1:8000/health
        json:
          - path: status
            equals: healthy
          - path: scheduler.running
            equals: true
          - path: scheduler.last_heartbeat
            max_age_hours: 0.1
          - path: database.latency_ms
            warn: 100
            crit: 1000
            unit: ms
      - name: nginx
        url: https://localhost/health
        ca_path: /etc/nginx/tls/opsbook.crt
        latency:
          warn: 300
  register: http_checks

- name: Data freshness from the status API (warn only)
  opsbook.stack.http_check:
    checks: [status, json]
    targets:
      - name: api-status
        url: http://127.0.0.1:8000/api/v1/status
        json:
          - name: freshness
            path: latest_data_timestamp
            max_age_hours: 26
            severity: warn
          - path: validation_rate_pct
            warn: 95
            crit: 80
            direction: below
            unit: "%"

- name: Slower thresholds for every target
  opsbook.stack.http_check:
    thresholds:
      latency_ms: {warn: 1000, crit: 5000}
    targets:
      - name: jobs
        url: http://127.0.0.1:8000/jobs/summary
"""

RETURN = r"""
checks:
  description: One result per check, in evaluation order (per target - status, latency, then the JSON assertions).
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable id, C(http.status:<name>), C(http.latency:<name>) or C(http.json:<name>.<assertion>).
      type: str
      sample: http.status:app
    status:
      description: C(ok), C(warn), C(crit) or C(unknown).
      type: str
      sample: ok
    value:
      description: >-
        Status code (C(http.status)), milliseconds (C(http.latency)), the field's value (C(http.json) equality),
        its age in hours (C(max_age_hours)) or C(null) when not measured.
      type: raw
      sample: 200
    warn:
      description: Warning threshold of numeric checks, else C(null).
      type: float
      sample: 500
    crit:
      description: Critical threshold of numeric checks, else C(null).
      type: float
      sample: 2000
    unit:
      description: Unit of value and thresholds (C(ms), C(h) or the assertion's unit).
      type: str
      sample: ms
    message:
      description: One human sentence.
      type: str
      sample: GET http://127.0.0.1:8000/health answered 200 OK in 12.3 ms
    details:
      description: >-
        Extras - for C(http.status) url, final_url, method, status_code, reason, content_type, bytes, latency_ms,
        expected, and body_excerpt (first 200 characters) when the status is not ok, or error; for C(http.json) path,
        assertion and the expectation.
      type: dict
      sample: {"url": "http://127.0.0.1:8000/health", "status_code": 200, "bytes": 245}
  sample:
    - check: http.status:app
      status: crit
      value: 503
      warn: null
      crit: null
      unit: ""
      message: GET http://127.0.0.1:8000/health answered 503 Service Unavailable in 8.1 ms, expected 200
      details: {"status_code": 503, "expected": [200]}
    - check: http.json:app.scheduler.running
      status: crit
      value: false
      warn: null
      crit: null
      unit: ""
      message: scheduler.running of app is false, expected true
      details: {"path": "scheduler.running", "assertion": "equals", "expected": true}
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
  sample: {"ok": 5, "warn": 0, "crit": 1, "unknown": 0, "total": 6, "worst": "crit"}
"""
# pylint: enable=duplicate-code

import http.client
import json
import os
import socket
import ssl
import time
import urllib.error
from typing import Any
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import mask_url, open_url

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    CRIT,
    OK,
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
from ansible_collections.opsbook.stack.plugins.module_utils._http import (
    assertion_id,
    assertion_kind,
    evaluate_assertion,
)

KNOWN_CHECKS = ("status", "latency", "json")
DEFAULTS = {"latency_ms": Threshold(warn=500.0, crit=2000.0, direction=ABOVE)}
EXCERPT = 200

JSON_SPEC: dict[str, Any] = {
    "path": {"type": "str", "required": True},
    "name": {"type": "str"},
    "equals": {"type": "raw"},
    "not_equals": {"type": "raw"},
    "max_age_hours": {"type": "float"},
    "warn": {"type": "float"},
    "crit": {"type": "float"},
    "direction": {"type": "str", "choices": ["above", "below"], "default": "above"},
    "unit": {"type": "str", "default": ""},
    "severity": {"type": "str", "choices": ["warn", "crit"], "default": "crit"},
}

TARGET_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "url": {"type": "str", "required": True},
    "method": {"type": "str", "default": "GET"},
    "timeout": {"type": "float", "default": 10},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "use_proxy": {"type": "bool", "default": True},
    "headers": {"type": "dict", "default": {}},
    "status_codes": {"type": "list", "elements": "int", "default": [200]},
    "latency": {"type": "dict"},
    "json": {"type": "list", "elements": "dict", "default": [], "options": JSON_SPEC},
}


class OptionError(ValueError):
    """A target or assertion that cannot be checked as given."""


def validate_targets(targets: list[dict[str, Any]], thresholds: dict[str, Threshold]) -> list[dict[str, Any]]:
    """Check the targets before any request; return them with their latency Threshold.

    Raises OptionError (naming the target) or ThresholdError.
    """
    seen: set[str] = set()
    prepared = []
    for index, target in enumerate(targets):
        name = (target.get("name") or "").strip()
        where = f"targets[{index}] (name {name!r})"
        if not name:
            raise OptionError(f"targets[{index}]: name must not be empty")
        if name in seen:
            raise OptionError(f"{where}: duplicate target name; names must be unique (they are the check ids)")
        seen.add(name)
        url = target["url"]
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise OptionError(f"{where}: url {mask_url(url)!r} is not an http:// or https:// URL with a host")
        if target["timeout"] <= 0:
            raise OptionError(f"{where}: timeout must be > 0, got {target['timeout']!r}")
        for code in target["status_codes"]:
            if not 100 <= code <= 599:
                raise OptionError(f"{where}: status code {code} is not an HTTP status (100-599)")
        for key in ("ca_path", "client_cert", "client_key"):
            if target.get(key) and not os.path.isfile(target[key]):
                raise OptionError(f"{where}: {key} {target[key]!r} does not exist or is not a file")
        latency = Threshold.from_spec(target.get("latency"), f"latency of target {name}", thresholds["latency_ms"])
        ids: set[str] = set()
        for number, spec in enumerate(target.get("json") or []):
            label = f"{where} json[{number}] (path {spec.get('path')!r})"
            if not spec.get("path"):
                raise OptionError(f"{label}: path must not be empty")
            try:
                kind = assertion_kind(spec)
            except ValueError as exc:
                raise OptionError(f"{label}: {exc}") from None
            if kind == "numeric":
                Threshold.from_spec(
                    {key: spec[key] for key in ("warn", "crit") if spec.get(key) is not None},
                    assertion_id(name, spec),
                    Threshold(direction=spec.get("direction") or ABOVE),
                )
            if kind == "max_age_hours" and spec["max_age_hours"] < 0:
                raise OptionError(f"{label}: max_age_hours must be >= 0, got {spec['max_age_hours']!r}")
            check_id = assertion_id(name, spec)
            if check_id in ids:
                raise OptionError(f"{label}: duplicate assertion id {check_id!r}; give the assertions distinct names")
            ids.add(check_id)
        prepared.append(dict(target, name=name, latency_threshold=latency))
    return prepared


def _describe_error(exc: BaseException, timeout: float) -> str:
    """A short reason for a failed request."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verification failed: {reason.verify_message or reason.reason} "
            "(set validate_certs: false, or ca_path to the issuing CA)"
        )
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host: {reason.strerror or reason}"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower() if reason.strerror[:1].isupper() else reason.strerror
    return str(reason) or type(reason).__name__


def fetch(target: dict[str, Any]) -> dict[str, Any]:
    """Request a target once; time until the whole body is read.

    Returns {error} for a failed request, else {code, reason, body, final_url, content_type, latency_ms}.
    HTTP error statuses (4xx/5xx) are responses too: their body is read and returned.
    """
    started = time.monotonic()
    headers = {str(key): str(value) for key, value in (target.get("headers") or {}).items()}
    try:
        try:
            response = open_url(
                target["url"],
                method=target["method"].upper(),
                headers=headers,
                timeout=target["timeout"],
                validate_certs=target["validate_certs"],
                ca_path=target.get("ca_path"),
                client_cert=target.get("client_cert"),
                client_key=target.get("client_key"),
                use_proxy=target["use_proxy"],
            )
        except urllib.error.HTTPError as exc:
            response = exc
        body = response.read() or b""
        elapsed = (time.monotonic() - started) * 1000.0
        info = response.headers if response.headers is not None else {}
        return {
            "code": int(response.getcode()),
            "reason": str(getattr(response, "reason", "") or ""),
            "body": body,
            "final_url": response.geturl(),
            "content_type": info.get("Content-Type", ""),
            "latency_ms": round(elapsed, 1),
        }
    except (
        urllib.error.URLError,
        UrlsConnectionError,
        http.client.HTTPException,
        OSError,
        ValueError,
    ) as exc:
        return {"error": _describe_error(exc, target["timeout"]), "latency_ms": None}


def decode_json(response: dict[str, Any]) -> tuple[Any, str | None]:
    """The decoded JSON body, or (None, reason) when it is not JSON."""
    raw: bytes = response["body"]
    charset = "utf-8"
    content_type = response.get("content_type") or ""
    if "charset=" in content_type:
        charset = content_type.split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text), None
    except ValueError:
        shown = text[:60].replace("\n", " ") if text.strip() else "(empty body)"
        return None, f"body is not JSON: {shown}"


def check_target(target: dict[str, Any], selected: list[str]) -> list[CheckResult]:
    """Every selected check of one target."""
    name = target["name"]
    method = target["method"].upper()
    shown = mask_url(target["url"])
    assertions = target.get("json") or []
    response = fetch(target)
    results: list[CheckResult] = []

    if "error" in response:
        reason = response["error"]
        if "status" in selected:
            results.append(
                result(
                    f"http.status:{name}",
                    CRIT,
                    f"{method} {shown} failed: {reason}",
                    details={"url": shown, "method": method, "error": reason},
                )
            )
        if "latency" in selected:
            results.append(unknown(f"http.latency:{name}", f"latency of {name} not measured: {reason}"))
        if "json" in selected:
            for spec in assertions:
                results.append(unknown(assertion_id(name, spec), f"{spec['path']} of {name} not measured: {reason}"))
        return results

    code = response["code"]
    expected = list(target["status_codes"])
    if "status" in selected:
        good = code in expected
        details: dict[str, Any] = {
            "url": shown,
            "method": method,
            "status_code": code,
            "reason": response["reason"],
            "content_type": response["content_type"],
            "bytes": len(response["body"]),
            "latency_ms": response["latency_ms"],
            "expected": expected,
        }
        final_url = mask_url(response["final_url"] or "")
        if final_url and final_url != shown:
            details["final_url"] = final_url
        message = f"{method} {shown} answered {code} {response['reason']}".rstrip() + f" in {response['latency_ms']:g} ms"
        if not good:
            message += f", expected {' or '.join(str(item) for item in expected)}"
            details["body_excerpt"] = response["body"][:EXCERPT].decode("utf-8", errors="replace")
        results.append(result(f"http.status:{name}", OK if good else CRIT, message, value=code, details=details))

    if "latency" in selected:
        results.append(
            evaluate(
                f"http.latency:{name}",
                response["latency_ms"],
                target["latency_threshold"],
                unit="ms",
                label=f"latency of {name}",
                details={"url": shown, "status_code": code, "bytes": len(response["body"])},
            )
        )

    if "json" in selected and assertions:
        document, problem = decode_json(response)
        for spec in assertions:
            if problem is not None:
                results.append(unknown(assertion_id(name, spec), problem, details={"path": spec["path"]}))
            else:
                results.append(evaluate_assertion(name, spec, document))
    return results


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "targets": {"type": "list", "elements": "dict", "required": True, "options": TARGET_SPEC},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        selected = select(module.params["checks"], KNOWN_CHECKS)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        thresholds = merge_thresholds(DEFAULTS, module.params["thresholds"])
        targets = validate_targets(module.params["targets"], thresholds)
    except (ThresholdError, OptionError) as exc:
        module.fail_json(msg=str(exc))

    results: list[CheckResult] = []
    if selected:
        for target in targets:
            results.extend(check_target(target, selected))
    module.exit_json(changed=False, **module_output(results))


if __name__ == "__main__":
    main()
