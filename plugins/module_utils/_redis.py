# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis helpers for opsbook.stack modules: INFO parsing and error classification.

Private to the collection. Nothing here imports redis-py, so the logic is testable
without it and works with the redis-py of Debian 12 (4.3) and 13 (6.x), whose
exception classes differ (4.3 raises a plain ResponseError for WRONGPASS).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_INT_RE = re.compile(r"^-?\d+$")
_FLOAT_RE = re.compile(r"^-?\d+\.\d+$")
_PAIR_RE = re.compile(r"^[a-z_]+=[^,]*(,[a-z_]+=[^,]*)*$")

# What an error means for a check.
CONNECT = "connect"  # no usable connection: refused, timeout, wrong password, auth required
NOPERM = "noperm"  # connected, but this ACL user may not run the command
OTHER = "other"

_CONNECT_CLASSES = frozenset(
    {"ConnectionError", "AuthenticationError", "AuthenticationWrongNumberOfArgsError", "TimeoutError", "OSError"}
)
_CONNECT_PREFIXES = ("WRONGPASS", "NOAUTH", "invalid username-password pair", "invalid password", "ERR invalid password")


def _scalar(text: str) -> Any:
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    return text


def parse_info(text: str) -> dict[str, Any]:
    """Parse the text of an INFO reply into a flat dict.

    ``# Section`` headers and blank lines are skipped; integers and decimals
    become numbers; ``k=v,k=v`` values (keyspace ``db0:keys=1,expires=0``)
    become dicts. Unknown lines are kept as strings, so a newer server only adds keys.
    """
    info: dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if _PAIR_RE.match(value) and not _INT_RE.match(value):
            info[key] = {k: _scalar(v) for k, _eq, v in (part.partition("=") for part in value.split(","))}
        else:
            info[key] = _scalar(value)
    return info


def classify(exc: BaseException) -> str:
    """CONNECT, NOPERM or OTHER for an exception raised by redis-py (any version)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc).strip()
    if "NoPermissionError" in names or text.startswith("NOPERM") or "no permissions to run" in text:
        return NOPERM
    if names & _CONNECT_CLASSES or text.startswith(_CONNECT_PREFIXES):
        return CONNECT
    return OTHER


def error_text(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One-line error message with any secret blanked out."""
    line = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets:
        if secret:
            line = line.replace(secret, "********")
    return line
