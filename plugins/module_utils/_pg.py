# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL sessions for opsbook.stack (psycopg 3): the import guard, connection options, connecting.

Private to the collection. The option names follow community.postgresql
(doc fragment ``opsbook.stack.pg_connection``). psycopg is imported here, once:
``psycopg``, ``sql`` and ``dict_row`` are None when it is missing, and
:func:`fail_without_psycopg` reports that the Ansible way.

Standard library and psycopg only, importing nothing else from the
collection or from Ansible at import time: the backup role also installs this
file next to the on-host tool opsbook-backup, which imports it as a top-level
module.
"""

from __future__ import annotations

import datetime
import decimal
import math
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

PSYCOPG_IMPORT_ERROR: str | None
try:
    import psycopg
    # sql and dict_row are for the modules, which import psycopg's parts from here only.
    from psycopg import sql  # pylint: disable=unused-import
    from psycopg.rows import dict_row  # pylint: disable=unused-import
except ImportError:
    psycopg = None
    sql = None
    dict_row = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None

# Why a check cannot run without psycopg, for results and the tool's messages.
PSYCOPG_MISSING = "psycopg 3 is not installed on this host (apt-get install python3-psycopg)"

SSL_MODES: tuple[str, ...] = ("allow", "disable", "prefer", "require", "verify-ca", "verify-full")

# argument_spec entries matching doc fragment opsbook.stack.pg_connection.
PG_CONNECTION_SPEC: dict[str, dict[str, Any]] = {
    "login_host": {"type": "str", "default": "", "aliases": ["host"]},
    "login_unix_socket": {"type": "str", "default": "", "aliases": ["unix_socket"]},
    "login_port": {"type": "int", "default": 5432, "aliases": ["port"]},
    "login_user": {"type": "str", "default": "postgres", "aliases": ["login"]},
    "login_password": {"type": "str", "no_log": True},
    "login_db": {"type": "str", "default": "postgres"},
    "connect_timeout": {"type": "int", "default": 5},
    "ssl_mode": {"type": "str", "default": "prefer", "choices": list(SSL_MODES)},
    "ca_cert": {"type": "path", "aliases": ["ssl_rootcert"]},
}


def connect_kwargs(params: Mapping[str, Any], dbname: str | None = None, application_name: str = "opsbook.stack") -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` from the module's connection options.

    An empty ``login_host`` means a unix socket: ``login_unix_socket`` if set,
    else libpq's compiled-in socket directory.
    """
    kwargs: dict[str, Any] = {
        "dbname": dbname or params.get("login_db") or "postgres",
        "user": params.get("login_user") or "postgres",
        "port": int(params.get("login_port") or 5432),
        "connect_timeout": int(params.get("connect_timeout") or 5),
        "application_name": application_name,
    }
    if params.get("login_host"):
        kwargs["host"] = params["login_host"]
        kwargs["sslmode"] = params.get("ssl_mode") or "prefer"
        if params.get("ca_cert"):
            kwargs["sslrootcert"] = params["ca_cert"]
    elif params.get("login_unix_socket"):
        kwargs["host"] = params["login_unix_socket"]
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    return kwargs


def fail_without_psycopg(module: AnsibleModule, name: str) -> None:
    """Fail the AnsibleModule ``module`` (named ``name`` in the message) when psycopg could not be imported."""
    if psycopg is not None:
        return
    # Imported here: the on-host tool imports this file where Ansible is not installed.
    from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel

    module.fail_json(
        msg=missing_required_lib(
            "psycopg (version 3)",
            reason=f"by {name}; install python3-psycopg on this host (apt-get install python3-psycopg)",
        ),
        exception=PSYCOPG_IMPORT_ERROR,
    )


def connect(
    params: Mapping[str, Any],
    dbname: str | None = None,
    application_name: str = "opsbook.stack",
    *,
    autocommit: bool = True,
    read_only: bool = False,
    statement_timeout: float | None = None,
    lock_timeout: float | None = None,
) -> Any:
    """A psycopg connection from the pg_connection options, with the session set up.

    ``statement_timeout`` and ``lock_timeout`` are seconds (None leaves the
    server's setting); ``read_only`` makes every transaction of the session
    read-only. With ``autocommit`` false and no setting asked for, nothing is
    executed, so the caller may still set the isolation level. The connection
    is closed if a setting fails.
    """
    if psycopg is None:
        raise RuntimeError(PSYCOPG_MISSING)
    conn = psycopg.connect(autocommit=autocommit, **connect_kwargs(params, dbname, application_name))
    try:
        for name, seconds in (("statement_timeout", statement_timeout), ("lock_timeout", lock_timeout)):
            if seconds is not None:
                conn.execute("SELECT set_config(%s, %s, false)", (name, str(int(float(seconds) * 1000))))
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
    except BaseException:
        conn.close()
        raise
    return conn


def describe_target(params: Mapping[str, Any], dbname: str | None = None) -> str:
    """Where we connect, for messages: ``user@host:port/db`` (never the password)."""
    where = params.get("login_host") or params.get("login_unix_socket") or "unix socket"
    return f"{params.get('login_user') or 'postgres'}@{where}:{params.get('login_port') or 5432}/{dbname or params.get('login_db') or 'postgres'}"


def one_line(text: Any, secrets: Iterable[str | None] = ()) -> str:
    """Collapse a (multi-line) error into one line and blank out any secret in it."""
    line = " ".join(str(text).split())
    for secret in secrets:
        if secret:
            line = line.replace(secret, "********")
    return line


def error_text(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """The server's (or libpq's) message of a psycopg error, one line, secrets removed."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return one_line(text, secrets)


def coerce_number(value: Any) -> tuple[int | float | None, str | None]:
    """A query's first column as a number: ``(number, None)`` or ``(None, reason)``.

    bool -> 1/0; int, float and Decimal pass (Decimal becomes int when integral,
    else float); NULL, text, intervals, timestamps and the rest are refused with
    a reason that says what came back.
    """
    if value is None:
        return None, "first column of the first row is NULL"
    if isinstance(value, bool):
        return int(value), None
    if isinstance(value, int):
        return value, None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None, f"first column is not a finite number ({value})"
        return (int(value), None) if value == value.to_integral_value() else (float(value), None)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None, f"first column is not a finite number ({value})"
        return value, None
    if isinstance(value, datetime.timedelta):
        return None, (
            f"first column is an interval ({value}), not a number; "
            "convert it, e.g. extract(epoch FROM ...) / 3600 for hours"
        )
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return None, f"first column is {type(value).__name__} {shown}, not a number (use a numeric or boolean expression)"
