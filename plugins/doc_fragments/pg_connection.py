# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connection options shared by opsbook.stack modules (named like community.postgresql's)."""

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of modules that talk to PostgreSQL with psycopg 3."""

    # pylint: disable=duplicate-code
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host running the database.
      - Empty means a unix socket connection (in O(login_unix_socket), else libpq's default directory, V(/var/run/postgresql) on Debian).
    type: str
    default: ''
    aliases: [host]
  login_unix_socket:
    description:
      - Directory of the unix domain socket for local connections, used when O(login_host) is empty.
    type: str
    default: ''
    aliases: [unix_socket]
  login_port:
    description:
      - Database port to connect to (also selects the socket file of a unix socket connection).
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description:
      - The role to connect as.
      - With the default unix socket connection and peer authentication, run the task as the same OS user
        (C(become_user=postgres) for the default V(postgres)).
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description:
      - Password of O(login_user). Not needed with peer authentication over the unix socket.
      - Never echoed in results or messages.
    type: str
  login_db:
    description:
      - Database to connect to.
    type: str
    default: postgres
  connect_timeout:
    description:
      - Seconds to wait for a connection before giving up.
    type: int
    default: 5
  ssl_mode:
    description:
      - Whether or with what priority a TLS connection is negotiated with the server (libpq C(sslmode)).
      - See U(https://www.postgresql.org/docs/current/libpq-ssl.html) for the modes.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - File with the certificate authority (CA) certificate(s) the server's certificate must be signed by (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
requirements:
  - psycopg >= 3.1 (Debian package C(python3-psycopg)) on the host that runs the module.
"""
    # pylint: enable=duplicate-code
