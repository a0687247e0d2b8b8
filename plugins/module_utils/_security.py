# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of opsbook.stack.security_check: parsers and the judgement of each finding.

Private to the collection. Nothing here talks to a server or runs a command:
the module feeds these functions with ``ss -Hltn`` text, ``nginx -T`` text,
rows of PostgreSQL catalog queries, file modes and the outcome of an
unauthenticated Redis PING, and gets contract results back.
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import ipaddress
import os
import posixpath
import re
import stat as _stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    CRIT,
    OK,
    UNKNOWN,
    WARN,
    CheckResult,
    result,
    unknown,
    worst,
)
from ansible_collections.opsbook.stack.plugins.module_utils._redis import CONNECT, NOPERM, classify

TLS_PROTOCOLS: tuple[str, ...] = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")

# -- listening sockets (ss -Hltn) ---------------------------------------------

_ADDR_PORT_RE = re.compile(r"^(?P<addr>\[[^\]]*\]|[^\s\[\]]*):(?P<port>\d+|\*)$")


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket: address as ss prints it (brackets and %iface removed) and port."""

    address: str
    port: int

    @property
    def shown(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


def parse_ss(text: str) -> list[Listener]:
    """Listening sockets from ``ss -Hltn`` output (with or without the State / Netid columns).

    The local address is the first field that looks like ``addr:port``; ``*``,
    ``0.0.0.0``, ``[::]``, ``[::ffff:127.0.0.1]`` and ``127.0.0.53%lo`` are understood.
    Lines that do not parse are skipped.
    """
    found: list[Listener] = []
    seen: set[tuple[str, int]] = set()
    for line in text.splitlines():
        for part in line.split():
            match = _ADDR_PORT_RE.match(part)
            if not match or match.group("port") == "*":
                continue
            addr = match.group("addr").strip("[]").split("%", 1)[0] or "*"
            key = (addr, int(match.group("port")))
            if key not in seen:
                seen.add(key)
                found.append(Listener(*key))
            break
    return found


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.0.0.1)."""
    ip = _ip(address)
    if ip is None:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def is_wildcard(address: str) -> bool:
    """Bound to every address: ``*``, ``0.0.0.0`` or ``::``."""
    if address == "*":
        return True
    ip = _ip(address)
    return ip is not None and ip.is_unspecified


def ports_result(listeners: Sequence[Listener], expected: Sequence[int] | None) -> CheckResult:
    """security.ports: non-loopback TCP listeners, judged against ``expected`` when given."""
    check_id = "security.ports"
    public = [item for item in listeners if not is_loopback(item.address)]
    by_port: dict[int, list[str]] = {}
    for item in public:
        by_port.setdefault(item.port, []).append(item.shown)
    details: dict[str, Any] = {
        "listening": {str(port): addrs for port, addrs in sorted(by_port.items())},
        "loopback_only": sorted({item.port for item in listeners if is_loopback(item.address)} - set(by_port)),
        "expected_ports": list(expected) if expected is not None else None,
    }
    listing = ", ".join(f"{port} ({' '.join(addrs)})" for port, addrs in sorted(by_port.items())) or "none"
    if expected is None:
        return result(check_id, OK, f"TCP ports listening beyond loopback: {listing}", value=len(by_port), unit="ports", details=details)
    unexpected = {port: addrs for port, addrs in sorted(by_port.items()) if port not in set(expected)}
    details["unexpected"] = {str(port): addrs for port, addrs in unexpected.items()}
    if unexpected:
        named = ", ".join(f"{port} on {' '.join(addrs)}" for port, addrs in unexpected.items())
        return result(
            check_id, WARN, f"unexpected TCP port(s) listening beyond loopback: {named} (expected {', '.join(map(str, expected)) or 'none'})",
            value=len(unexpected), unit="ports", details=details,
        )
    return result(check_id, OK, f"only expected TCP ports listen beyond loopback: {listing}", value=0, unit="ports", details=details)


def redis_bind_result(listeners: Sequence[Listener], port: int, public_ok: bool) -> CheckResult:
    """security.redis_bind: where the Redis port listens; all-address binds warn unless ``public_ok``."""
    check_id = "security.redis_bind"
    mine = [item for item in listeners if item.port == port]
    shown = [item.shown for item in mine]
    details: dict[str, Any] = {"port": port, "addresses": shown, "redis_public_ok": public_ok}
    if not mine:
        return unknown(check_id, f"nothing listens on TCP port {port}: Redis is not running here (or redis_port is wrong)", details=details)
    broad = [item.shown for item in mine if is_wildcard(item.address)]
    details["all_addresses"] = broad
    if broad and not public_ok:
        return result(
            check_id, WARN,
            f"Redis port {port} listens on all addresses ({', '.join(broad)}); bind it to loopback or the private "
            "interface, or set redis_public_ok when that is intended",
            value=", ".join(shown), details=details,
        )
    note = " (all addresses, accepted by redis_public_ok)" if broad else ""
    return result(check_id, OK, f"Redis port {port} listens on {', '.join(shown)}{note}", value=", ".join(shown), details=details)


# -- Redis without credentials --------------------------------------------------

_AUTH_MARKERS = ("NOAUTH", "WRONGPASS", "AUTHENTICATION REQUIRED", "USER DEFAULT IS DISABLED", "INVALID USERNAME-PASSWORD",
                 "INVALID PASSWORD")


def redis_auth_result(target: str, reply: Any = None, error: BaseException | None = None) -> CheckResult:
    """security.redis_auth from the outcome of PING sent without any credentials."""
    check_id = "security.redis_auth"
    details: dict[str, Any] = {"target": target}
    if error is None:
        shown = reply.decode() if isinstance(reply, bytes) else reply
        details["reply"] = "PONG" if shown is True else shown
        if shown is True or str(shown).upper() == "PONG":
            return result(check_id, CRIT, f"Redis at {target} answers without authentication (PING -> PONG)", value="open", details=details)
        return unknown(check_id, f"unexpected reply to PING from {target}: {shown!r}", details=details)
    names = {cls.__name__ for cls in type(error).__mro__}
    text = " ".join(str(error).split()) or type(error).__name__
    details["error"] = text
    upper = text.upper()
    if "AuthenticationError" in names or any(marker in upper for marker in _AUTH_MARKERS):
        return result(check_id, OK, f"Redis at {target} refuses commands without authentication ({text})", value="closed", details=details)
    # Everything but "authentication required" as redis_check sorts it (auth errors come first
    # here: for a client without credentials they mean the server is closed, which is the finding).
    kind = classify(error)
    if kind == NOPERM:
        return result(
            check_id, WARN,
            f"Redis at {target} accepts unauthenticated clients as user default, which may not PING ({text}); "
            "switch the default user off",
            value="limited", details=details,
        )
    if kind == CONNECT:
        return unknown(check_id, f"cannot reach Redis at {target}: {text}", details=details)
    return unknown(check_id, f"PING to {target} failed: {text}", details=details)


# -- nginx -T -----------------------------------------------------------------

_FILE_MARKER_RE = re.compile(r"^# configuration file (?P<path>.+):\s*$")


@dataclass
class Directive:
    """One nginx directive with its position; ``block`` is set for ``name ... { }``."""

    name: str
    args: list[str]
    file: str
    line: int
    block: list[Directive] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def split_nginx_dump(text: str) -> dict[str, str]:
    """The files of an ``nginx -T`` dump, in dump order: ``{path: text}``.

    nginx prints each file once after a ``# configuration file PATH:`` line; the
    ``nginx: ... syntax is ok`` lines (stderr, sometimes merged) are dropped.
    """
    files: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = _FILE_MARKER_RE.match(line)
        if match:
            if current is not None:
                files[current] = "\n".join(lines)
            current, lines = match.group("path"), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        files[current] = "\n".join(lines)
    return files


def _nginx_tokens(text: str) -> list[tuple[str, int, bool]]:
    """(token, line, quoted) of nginx config text; ``{``, ``}`` and ``;`` are tokens, comments dropped."""
    tokens: list[tuple[str, int, bool]] = []
    i, line, size = 0, 1, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            while i < size and text[i] != "\n":
                i += 1
        elif char in "{};":
            tokens.append((char, line, False))
            i += 1
        elif char in "\"'":
            start_line, quote, i = line, char, i + 1
            buf = []
            while i < size and text[i] != quote:
                if text[i] == "\\" and i + 1 < size:
                    i += 1
                if text[i] == "\n":
                    line += 1
                buf.append(text[i])
                i += 1
            i += 1
            tokens.append(("".join(buf), start_line, True))
        else:
            buf = []
            while i < size and not text[i].isspace() and text[i] not in "{};":
                if text[i] == "\\" and i + 1 < size:
                    buf.append(text[i + 1])
                    i += 2
                    continue
                buf.append(text[i])
                i += 1
            tokens.append(("".join(buf), line, False))
    return tokens


def parse_nginx_file(text: str, path: str) -> list[Directive]:
    """Directives of one nginx config file as a tree (unbalanced braces are tolerated)."""
    root: list[Directive] = []
    stack: list[list[Directive]] = [root]
    words: list[tuple[str, int, bool]] = []
    for token, line, quoted in _nginx_tokens(text):
        if not quoted and token == ";":
            if words:
                stack[-1].append(Directive(words[0][0], [w[0] for w in words[1:]], path, words[0][1]))
            words = []
        elif not quoted and token == "{":
            name, first_line = (words[0][0], words[0][1]) if words else ("", line)
            block: list[Directive] = []
            stack[-1].append(Directive(name, [w[0] for w in words[1:]], path, first_line, block))
            stack.append(block)
            words = []
        elif not quoted and token == "}":
            words = []
            if len(stack) > 1:
                stack.pop()
        else:
            words.append((token, line, quoted))
    return root


def nginx_tree(dump: str) -> list[Directive]:
    """The whole configuration of an ``nginx -T`` dump with every ``include`` expanded in place."""
    files = split_nginx_dump(dump)
    if not files:
        return []
    paths = list(files)
    main = paths[0]
    prefix = posixpath.dirname(main)
    parsed = {path: parse_nginx_file(text, path) for path, text in files.items()}

    def expand(nodes: list[Directive], depth: int) -> list[Directive]:
        out: list[Directive] = []
        for node in nodes:
            if node.name == "include" and node.block is None and node.args and depth < 20:
                pattern = node.args[0]
                if not pattern.startswith("/"):
                    pattern = posixpath.join(prefix, pattern)
                matched = sorted(path for path in paths if path == pattern or fnmatch.fnmatchcase(path, pattern))
                for path in matched:
                    out.extend(expand(parsed[path], depth + 1))
                continue
            if node.block is not None:
                node = Directive(node.name, node.args, node.file, node.line, expand(node.block, depth))
            out.append(node)
        return out

    return expand(parsed[main], 0)


_WEAK_COMPONENTS = frozenset({"RC4", "3DES", "DES", "MD5", "NULL", "EXPORT", "EXP", "ANULL", "ENULL", "ADH", "AECDH", "EXPORT40",
                              "EXPORT56", "EXP1024"})


def weak_ciphers(cipher_string: str) -> list[str]:
    """The elements of an OpenSSL cipher string that ENABLE a weak family.

    Elements starting with ``!`` (delete for good) or ``-`` (remove) enable
    nothing; ``+`` (move to the end) is ignored too. An element is weak when a
    ``+``-joined part is one of RC4, 3DES, DES, MD5, NULL, EXPORT/EXP, aNULL,
    eNULL, or a cipher name contains such a part (``DES-CBC3-SHA``,
    ``RC4-MD5``, ``EXP-RC4-MD5``, ``NULL-SHA``, ``ADH-AES128-SHA``).
    """
    weak: list[str] = []
    for element in re.split(r"[:, \s]+", cipher_string.strip()):
        if not element or element[0] in "!-+@":
            continue
        parts = [piece for part in element.split("+") for piece in part.split("-")]
        if any(part.upper() in _WEAK_COMPONENTS for part in parts) or "DES-CBC3" in element.upper():
            weak.append(element)
    return weak


@dataclass
class TlsServer:
    """A server block with a ``listen ... ssl`` (or ``ssl on``), and the TLS directives it uses."""

    where: str
    names: list[str]
    protocols: list[Directive] = field(default_factory=list)
    ciphers: list[Directive] = field(default_factory=list)


def _walk_servers(
    nodes: list[Directive],
    inherited: Mapping[str, list[Directive]],
    servers: list[TlsServer],
    used: set[int],
) -> None:
    own = {name: [n for n in nodes if n.name == name and n.block is None] for name in ("ssl_protocols", "ssl_ciphers")}
    effective = {name: own[name] or list(inherited[name]) for name in own}
    for node in nodes:
        if node.block is None:
            continue
        if node.name == "server":
            block = node.block
            mine = {name: [n for n in block if n.name == name and n.block is None] for name in own}
            use = {name: mine[name] or effective[name] for name in own}
            tls = any(n.name == "listen" and "ssl" in n.args for n in block) or any(
                n.name == "ssl" and n.args[:1] == ["on"] for n in block
            )
            if tls:
                server_names = [arg for n in block if n.name == "server_name" for arg in n.args]
                servers.append(TlsServer(node.where, server_names, use["ssl_protocols"], use["ssl_ciphers"]))
                for directives in use.values():
                    used.update(id(d) for d in directives)
        elif node.name in ("http", "stream", "mail"):
            _walk_servers(node.block, effective, servers, used)


def nginx_tls_result(dump: str, allowed: Sequence[str]) -> CheckResult:
    """security.nginx_tls from ``nginx -T`` text.

    Every ``ssl_protocols`` / ``ssl_ciphers`` directive is collected; the ones a
    TLS server actually uses (its own, else the nearest enclosing context's,
    several in one context add up) are judged: a protocol outside ``allowed`` or
    a cipher string enabling a weak family is crit. A TLS server that ends up
    without any ``ssl_protocols`` is warn (the default depends on the build).
    Directives no TLS server uses (overridden in each, or in a plain HTTP server) are
    listed as shadowed, not judged.
    """
    check_id = "security.nginx_tls"
    tree = nginx_tree(dump)
    if not tree:
        return unknown(check_id, "nginx -T printed no configuration file")
    all_directives: list[Directive] = []

    def collect(nodes: list[Directive]) -> None:
        for node in nodes:
            if node.block is not None:
                collect(node.block)
            elif node.name in ("ssl_protocols", "ssl_ciphers"):
                all_directives.append(node)

    collect(tree)
    servers: list[TlsServer] = []
    used: set[int] = set()
    _walk_servers(tree, {"ssl_protocols": [], "ssl_ciphers": []}, servers, used)
    allowed_set = set(allowed)
    problems: list[str] = []
    bad_protocols: list[dict[str, Any]] = []
    bad_ciphers: list[dict[str, Any]] = []
    shadowed: list[str] = []
    for node in all_directives:
        if id(node) not in used:
            shadowed.append(f"{node.where} {node.name} {' '.join(node.args)}")
            continue
        if node.name == "ssl_protocols":
            outside = [p for p in node.args if p not in allowed_set]
            if outside:
                bad_protocols.append({"where": node.where, "protocols": outside})
                problems.append(f"protocol(s) {', '.join(outside)} enabled in {node.where}")
        else:
            weak = weak_ciphers(" ".join(node.args))
            if weak:
                bad_ciphers.append({"where": node.where, "ciphers": weak})
                problems.append(f"weak cipher(s) {', '.join(weak)} enabled in {node.where}")
    without = [server.where for server in servers if not server.protocols]
    details: dict[str, Any] = {
        "allowed_protocols": list(allowed),
        "tls_servers": [
            {
                "where": s.where,
                "server_name": s.names,
                "protocols": sorted({p for d in s.protocols for p in d.args}),
                "protocols_from": [d.where for d in s.protocols],
                "ciphers_from": [d.where for d in s.ciphers],
            }
            for s in servers
        ],
        "bad_protocols": bad_protocols,
        "weak_ciphers": bad_ciphers,
        "without_ssl_protocols": without,
        "shadowed": shadowed,
        "files": list(split_nginx_dump(dump)),
    }
    shadow_note = f"; not used by any TLS server (overridden or outside one): {'; '.join(shadowed)}" if shadowed else ""
    if problems:
        return result(check_id, CRIT, f"nginx TLS: {'; '.join(problems)}", value=len(problems), details=details)
    if without:
        return result(
            check_id, WARN,
            f"nginx TLS server(s) at {', '.join(without)} listen with ssl but no ssl_protocols applies "
            "(the default depends on the nginx/OpenSSL build); set ssl_protocols TLSv1.2 TLSv1.3",
            value=len(without), details=details,
        )
    if not servers:
        return result(check_id, OK, f"nginx has no server listening with ssl{shadow_note}", value=0, details=details)
    protocols = sorted({p for s in servers for d in s.protocols for p in d.args})
    return result(
        check_id, OK,
        f"nginx TLS server(s) use only {', '.join(protocols)} and no weak cipher family{shadow_note}",
        value=0, details=details,
    )


# -- PostgreSQL -----------------------------------------------------------------


def superusers_result(superusers: Sequence[str], allowed: Sequence[str]) -> CheckResult:
    """security.pg_superusers: roles with rolsuper beyond ``allowed``."""
    check_id = "security.pg_superusers"
    extra = [name for name in superusers if name not in set(allowed)]
    details = {"superusers": list(superusers), "allowed": list(allowed), "unexpected": extra}
    if extra:
        return result(check_id, CRIT, f"unexpected superuser role(s): {', '.join(extra)} (allowed: {', '.join(allowed) or 'none'})",
                      value=len(extra), unit="roles", details=details)
    return result(check_id, OK, f"superuser role(s): {', '.join(superusers) or 'none'}", value=0, unit="roles", details=details)


def login_roles_result(login_roles: Sequence[str], allowed: Sequence[str] | None) -> CheckResult:
    """security.pg_login_roles: roles that can log in; warn on ones outside ``allowed`` when given."""
    check_id = "security.pg_login_roles"
    details: dict[str, Any] = {"login_roles": list(login_roles), "allowed": list(allowed) if allowed is not None else None}
    if allowed is None:
        return result(check_id, OK, f"{len(login_roles)} login role(s): {', '.join(login_roles) or 'none'}",
                      value=len(login_roles), unit="roles", details=details)
    extra = [name for name in login_roles if name not in set(allowed)]
    details["unexpected"] = extra
    if extra:
        return result(check_id, WARN, f"unexpected login role(s): {', '.join(extra)} (allowed: {', '.join(allowed) or 'none'})",
                      value=len(extra), unit="roles", details=details)
    return result(check_id, OK, f"only allowed login role(s): {', '.join(login_roles) or 'none'}", value=0, unit="roles", details=details)


def password_hashes_result(rows: Iterable[Mapping[str, Any]]) -> CheckResult:
    """security.pg_password_hashes from rows ``{role, kind}``; kind is none, scram-sha-256, md5 or other.

    The hashes themselves never reach this function (the query classifies them).
    """
    check_id = "security.pg_password_hashes"
    kinds: dict[str, list[str]] = {}
    for row in rows:
        kinds.setdefault(str(row["kind"]), []).append(str(row["role"]))
    weak = {kind: roles for kind, roles in kinds.items() if kind not in ("none", "scram-sha-256")}
    details = {"scram_sha_256": kinds.get("scram-sha-256", []), "no_password": kinds.get("none", []), "weak": weak}
    if weak:
        named = "; ".join(f"{kind}: {', '.join(roles)}" for kind, roles in sorted(weak.items()))
        count = sum(len(roles) for roles in weak.values())
        return result(check_id, CRIT, f"password(s) not stored as SCRAM-SHA-256 ({named}); set password_encryption = scram-sha-256 "
                      "and set these passwords again", value=count, unit="roles", details=details)
    scram = kinds.get("scram-sha-256", [])
    return result(check_id, OK, f"every stored password is SCRAM-SHA-256 ({len(scram)} role(s): {', '.join(scram) or 'none'})",
                  value=0, unit="roles", details=details)


def _hba_list(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def hba_findings(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Findings of ``pg_hba_file_rules`` rows: ``{kind, status, line, rule, reason}``."""
    findings: list[dict[str, Any]] = []
    for row in rows:
        line = row.get("line_number")
        kind_of_line = str(row.get("type") or "")
        method = str(row.get("auth_method") or "")
        address = row.get("address")
        netmask = row.get("netmask")
        rule = " ".join(
            part for part in (kind_of_line, _hba_list(row.get("database")), _hba_list(row.get("user_name")),
                              str(address) + (f"/{netmask}" if netmask else "") if address else "", method) if part
        )

        def add(kind: str, status: str, reason: str, line: Any = line, rule: str = rule) -> None:
            findings.append({"kind": kind, "status": status, "line": line, "rule": rule, "reason": reason})

        if row.get("error"):
            add("error", CRIT, f"line {line} is invalid: {row['error']}")
            continue
        host = kind_of_line.startswith("host")
        if method == "trust":
            if host:
                add("trust", CRIT, f"line {line} trusts network connections without a password")
            else:
                add("trust", WARN, f"line {line} trusts every local connection without a password")
        elif method in ("md5", "password"):
            add("password", WARN, f"line {line} uses {method} (use scram-sha-256)")
        if host and (
            address == "all"
            or (address == "0.0.0.0" and netmask == "0.0.0.0")
            or (address == "::" and netmask == "::")
        ):
            add("address", WARN, f"line {line} accepts any address ({'all' if address == 'all' else f'{address}/0'})")
    return findings


_HBA_LABELS = {"error": "invalid line(s)", "trust": "trust authentication", "password": "md5/password authentication",
               "address": "broad address"}


def hba_result(rows: Sequence[Mapping[str, Any]]) -> CheckResult:
    """security.pg_hba: the worst finding of pg_hba_file_rules; message names each kind and its line numbers."""
    check_id = "security.pg_hba"
    rows = list(rows)
    findings = hba_findings(rows)
    details: dict[str, Any] = {"rules": len(rows), "findings": findings}
    if not findings:
        methods = sorted({str(r.get("auth_method")) for r in rows})
        return result(check_id, OK, f"pg_hba.conf: {len(rows)} rule(s), methods {', '.join(methods) or 'none'}; no trust, md5/password, "
                      "broad address or invalid line", value=0, unit="findings", details=details)
    parts = []
    for kind in ("error", "trust", "password", "address"):
        mine = [f for f in findings if f["kind"] == kind]
        if mine:
            lines = ", ".join(str(f["line"]) for f in mine)
            parts.append(f"{_HBA_LABELS[kind]} ({worst(f['status'] for f in mine)}) on line(s) {lines}")
    status = worst(f["status"] for f in findings)
    return result(check_id, status, f"pg_hba.conf: {'; '.join(parts)}", value=len(findings), unit="findings", details=details)


def public_schemas_result(rows: Iterable[Mapping[str, Any]], failed: Mapping[str, str] | None = None) -> CheckResult:
    """security.pg_public_schemas from rows ``{database, schema, create, usage}`` (PUBLIC's rights).

    PUBLIC CREATE on any non-system schema is crit; PUBLIC USAGE on a schema
    other than ``public`` is warn. ``failed`` maps databases that could not be
    inspected to the reason.
    """
    check_id = "security.pg_public_schemas"
    failed = dict(failed or {})
    rows = list(rows)
    create = [f"{r['database']}.{r['schema']}" for r in rows if r.get("create")]
    usage = [f"{r['database']}.{r['schema']}" for r in rows if r.get("usage") and r["schema"] != "public"]
    databases = sorted({str(r["database"]) for r in rows})
    details: dict[str, Any] = {"databases": databases, "public_create": create, "public_usage": usage, "failed": failed}
    if create:
        extra = f"; PUBLIC also has USAGE on {', '.join(usage)}" if usage else ""
        return result(check_id, CRIT, f"PUBLIC (every role) may CREATE in schema(s) {', '.join(create)}; REVOKE CREATE ON SCHEMA ... FROM PUBLIC{extra}",
                      value=len(create), unit="schemas", details=details)
    if usage:
        return result(check_id, WARN, f"PUBLIC (every role) has USAGE on schema(s) {', '.join(usage)}",
                      value=len(usage), unit="schemas", details=details)
    if failed:
        named = "; ".join(f"{db}: {reason}" for db, reason in sorted(failed.items()))
        return unknown(check_id, f"schemas of database(s) could not be inspected ({named})", details=details)
    return result(check_id, OK, f"PUBLIC has no CREATE on any schema and USAGE on public only, in database(s) {', '.join(databases) or 'none'}",
                  value=0, unit="schemas", details=details)


# -- secret files -----------------------------------------------------------------


def world_readable(mode: int) -> bool:
    """Readable by others (``mode & 0o004``)."""
    return bool(mode & 0o004)


def inspect_paths(
    patterns: Sequence[str],
    stat: Callable[[str], os.stat_result] = os.stat,
    expand: Callable[[str], list[str]] = _glob.glob,
    access: Callable[[str, int], bool] = os.access,
) -> tuple[list[tuple[str, int]], list[str], dict[str, str]]:
    """Stat every path (globs expanded): ``(found [(path, mode)], missing patterns, not inspectable {path: reason})``."""
    found: list[tuple[str, int]] = []
    missing: list[str] = []
    blocked: dict[str, str] = {}
    for pattern in patterns:
        if _glob.has_magic(pattern):
            parent = os.path.dirname(pattern)
            if parent and not _glob.has_magic(parent):
                try:
                    stat(parent)
                except PermissionError:
                    blocked[pattern] = "permission denied"
                    continue
                except OSError:
                    missing.append(pattern)
                    continue
                if not access(parent, os.R_OK | os.X_OK):
                    blocked[pattern] = f"cannot list {parent} (permission denied)"
                    continue
            paths = sorted(expand(pattern))
            if not paths:
                missing.append(pattern)
        else:
            paths = [pattern]
        for path in paths:
            try:
                info = stat(path)
            except FileNotFoundError:
                missing.append(path)
                continue
            except PermissionError:
                blocked[path] = "permission denied"
                continue
            except OSError as exc:
                blocked[path] = exc.strerror or str(exc)
                continue
            if _stat.S_ISREG(info.st_mode):
                found.append((path, _stat.S_IMODE(info.st_mode)))
    return found, missing, blocked


def secret_files_result(found: Sequence[tuple[str, int]], missing: Sequence[str], blocked: Mapping[str, str]) -> CheckResult:
    """security.secret_files: existing secret files readable by others are crit."""
    check_id = "security.secret_files"
    exposed = [(path, mode) for path, mode in found if world_readable(mode)]
    details: dict[str, Any] = {
        "files": {path: f"{mode:04o}" for path, mode in found},
        "world_readable": [path for path, _mode in exposed],
        "missing": list(missing),
        "not_inspected": dict(blocked),
    }
    if exposed:
        named = ", ".join(f"{path} ({mode:04o})" for path, mode in exposed)
        return result(check_id, CRIT, f"secret file(s) readable by every user: {named}; chmod o-r", value=len(exposed), unit="files", details=details)
    if blocked:
        named = ", ".join(f"{path} ({reason})" for path, reason in sorted(blocked.items()))
        return result(check_id, UNKNOWN, f"could not inspect {named}; run as root (become)", value=None, unit="files", details=details)
    shown = ", ".join(f"{path} ({mode:04o})" for path, mode in found) or "none present"
    return result(check_id, OK, f"no secret file readable by others: {shown}", value=0, unit="files", details=details)
