# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis sessions for opsbook.stack (redis-py): the import guard, client options, INFO parsing, error classes.

Private to the collection. redis-py is imported here, once: ``redis`` is None
when it is missing, and :func:`fail_without_redis` reports that the Ansible
way. The parsing and classification do not need redis-py, so they are testable
without it and work with the redis-py of Debian 12 (4.3) and 13 (6.x), whose
exception classes differ (4.3 raises a plain ResponseError for WRONGPASS).

Standard library and redis-py only, importing nothing else from the
collection or from Ansible at import time: the backup role also installs this
file next to the on-host tool opsbook-backup, which imports it as a top-level
module.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

REDIS_IMPORT_ERROR: str | None
try:
    import redis
except ImportError:
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

# Why a check cannot run without redis-py, for results and the tool's messages.
REDIS_MISSING = "redis-py is not installed on this host (apt-get install python3-redis)"

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


def fail_without_redis(module: AnsibleModule, name: str) -> None:
    """Fail the AnsibleModule ``module`` (named ``name`` in the message) when redis-py could not be imported."""
    if redis is not None:
        return
    # Imported here: the on-host tool imports this file where Ansible is not installed.
    from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel

    module.fail_json(
        msg=missing_required_lib(
            "redis (redis-py)",
            reason=f"by {name}; install python3-redis on this host (apt-get install python3-redis)",
        ),
        exception=REDIS_IMPORT_ERROR,
    )


def client_kwargs(
    host: str,
    port: int,
    *,
    timeout: float,
    user: str | None = None,
    password: str | None = None,
    tls: bool = False,
    validate_certs: bool = True,
    ca_cert: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` (redis-py 4.3 and later); replies decoded to str."""
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "decode_responses": True,
    }
    if user:
        kwargs["username"] = user
    if password:
        kwargs["password"] = password
    if tls:
        kwargs["ssl"] = True
        kwargs["ssl_cert_reqs"] = "required" if validate_certs else "none"
        kwargs["ssl_check_hostname"] = bool(validate_certs)
        if ca_cert:
            kwargs["ssl_ca_certs"] = ca_cert
    return kwargs


def client(kwargs: Mapping[str, Any]) -> Any:
    """A ``redis.Redis`` client from :func:`client_kwargs` (no connection is made before the first command)."""
    if redis is None:
        raise RuntimeError(REDIS_MISSING)
    return redis.Redis(**kwargs)
