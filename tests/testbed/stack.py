"""One sandbox-shaped stack for the system tests: create, converge, reach, remove.

A Stack is the sandbox inventory copied under its own name
(tests/testbed/inventory.py), created with playbooks/sandbox.yml and
provisioned with playbooks/site.yml exactly as a user does. Tests reach its
hosts over the stack's own connection: docker exec, or SSH as the sandbox's
admin user with sudo (the way ops and schedulers reach real hosts), so a
suite run over SSH proves the collection over SSH end to end.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import testinfra
import yaml
from helpers import BIN, COLLECTIONS, ROOT, tool_env

from testbed import inventory as inv


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment Ansible runs in for the tests: this checkout as opsbook.stack, its ansible.cfg."""
    return tool_env(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
                    ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)


class StackError(AssertionError):
    """A command on the stack failed where the test needed it to work."""


@dataclass
class PlaybookRun:
    """One ansible-playbook run: exit status, output and, for checklists, the JSON report."""

    rc: int
    output: str
    report: dict[str, Any]
    path: Path | None
    seconds: float

    def statuses(self) -> dict[tuple[str, str], str]:
        return {(data["name"], item["check"]): item["status"] for data in self.report.get("hosts", []) for item in data["checks"]}

    def checks(self, host: str | None = None) -> dict[str, dict[str, Any]]:
        return {
            item["check"]: item
            for data in self.report.get("hosts", [])
            if host is None or data["name"] == host
            for item in data["checks"]
        }

    def not_ok(self) -> dict[tuple[str, str], str]:
        return {key: status for key, status in self.statuses().items() if status != "ok"}

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host (ok, changed, failed, ...)."""
        out: dict[str, dict[str, int]] = {}
        for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", self.output, re.M):
            out[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
        return out

    def describe(self) -> str:
        lines = [f"rc={self.rc} report={self.path}"]
        for data in self.report.get("hosts", []):
            for item in data["checks"]:
                if item["status"] != "ok":
                    lines.append(f"  {data['name']} {item['check']} {item['status']}: {item['message']}")
        return "\n".join(lines)


@dataclass
class Stack:
    """A sandbox-shaped stack under its own name (see module docstring)."""

    name: str
    debian: str = "bookworm"
    connection: str = "docker"
    subnet: str = "172.30.60.0/24"
    workdir: Path = field(default_factory=lambda: ROOT / "build" / "stack")
    spec_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)

    # ------------------------------------------------------------ inventory

    @property
    def dir(self) -> Path:
        return self.workdir / self.name

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory"

    def spec(self) -> inv.InventorySpec:
        group_vars: dict[str, dict[str, Any]] = {
            "all": {
                # A small disk every host has, for the disk-full faults.
                "sandbox_tmpfs": ["/srv/scratch:size=64m"],
            },
            "db": {
                # The backups on a 256 MiB volume the backup faults can fill
                # (a tmpfs, shared with the DR drill's host like the sandbox's).
                "sandbox_volumes": [{"name": "{{ inventory_hostname }}-backups", "path": "/var/backups/opsbook",
                                     "tmpfs_size": "256m"}],
                # At the first day's growth such a volume is full in a few
                # weeks, which the default levels (warn at 30 days) report.
                "checklist_backup_thresholds": {"space_days": {"warn": 10, "crit": 3}},
                # WAL archived at least every 30 s: the DR drill recovers recent data.
                "backup_rpo_minutes": 1,
            },
        }
        for group, data in self.spec_overrides.items():
            group_vars.setdefault(group, {}).update(data)
        return inv.InventorySpec(name=self.name, subnet=self.subnet, debian=self.debian,
                                 connection=self.connection, group_vars=group_vars)

    def write_inventory(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return inv.write(self.spec(), self.inventory)

    @cached_property
    def _hosts_yml(self) -> dict[str, Any]:
        return yaml.safe_load((self.inventory / "hosts.yml").read_text())

    def _walk(self) -> list[tuple[str, list[str], dict[str, Any]]]:
        """(host, groups, host variables of hosts.yml) in inventory order."""
        found: dict[str, tuple[list[str], dict[str, Any]]] = {}

        def walk(node: dict[str, Any], groups: list[str]) -> None:
            for name, hvars in ((node or {}).get("hosts") or {}).items():
                entry = found.setdefault(name, ([], {}))
                entry[0].extend(g for g in groups if g not in entry[0])
                entry[1].update(hvars or {})
            for child, sub in ((node or {}).get("children") or {}).items():
                walk(sub, [*groups, child])

        walk(self._hosts_yml.get("all", {}), [])
        return [(name, groups, hvars) for name, (groups, hvars) in found.items()]

    def hosts(self, group: str = "sandbox") -> list[str]:
        """Inventory hosts of a group, in inventory order ("all": every host)."""
        return [name for name, groups, _hvars in self._walk() if group == "all" or group in groups]

    def groups_of(self, host: str) -> list[str]:
        return next(groups for name, groups, _hvars in self._walk() if name == host)

    def address(self, host: str) -> str:
        return next(hvars["sandbox_address"] for name, _groups, hvars in self._walk() if name == host)

    def ansible_inventory(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(self.inventory), *args],
                              capture_output=True, text=True, env=self.env(), check=True)
        return done.stdout

    @cached_property
    def secrets(self) -> dict[str, str]:
        """The secrets the sandbox generated for this stack (name -> value)."""
        out = {}
        for path in (self.inventory / ".secrets").iterdir():
            if path.is_file():
                out[path.name] = path.read_text().split()[0]
        return out

    # -------------------------------------------------------- ansible runs

    def env(self, **extra: str) -> dict[str, str]:
        return ansible_env(**extra)

    def playbook(self, name: str, *extra: str, timeout: float = 1500, report: bool = True,
                 log_name: str | None = None) -> PlaybookRun:
        """ansible-playbook playbooks/<name>.yml (or the playbook file name) on the stack as a
        user runs it; parses its report.

        The output goes to <stack dir>/logs/<log_name or name>-<n>.log as well.
        """
        playbook = Path(name) if name.endswith(".yml") else ROOT / "playbooks" / f"{name}.yml"
        name = playbook.stem
        report_dir = self.dir / "reports" / f"{name}-{time.monotonic_ns()}"
        # Task times in every log (profile_tasks), the report where one is wanted.
        env = self.env(OPSBOOK_REPORT_DIR=str(report_dir), PROFILE_TASKS_TASK_OUTPUT_LIMIT="25",
                       ANSIBLE_CALLBACKS_ENABLED=("opsbook.stack.checklist," if report else "") + "ansible.posix.profile_tasks")
        start = time.monotonic()
        done = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook), *extra],
            capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False,
        )
        seconds = time.monotonic() - start
        output = done.stdout + done.stderr
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stem = log_name or name
        number = len(list(logs.glob(f"{stem}-*.log"))) + 1
        (logs / f"{stem}-{number:02d}.log").write_text(f"$ ansible-playbook {name}.yml {' '.join(extra)}\n{output}")
        folders = sorted(p for p in report_dir.glob(f"{name}-*") if p.is_dir()) if report_dir.exists() else []
        data: dict[str, Any] = {}
        if folders and (folders[-1] / "report.json").exists():
            data = json.loads((folders[-1] / "report.json").read_text())
        return PlaybookRun(done.returncode, output, data, folders[-1] if folders else None, seconds)

    def module(self, host: str, module: str, args: dict[str, Any] | str, *, check: bool = False,
               become_user: str | None = None, become: bool = True) -> dict[str, Any]:
        """Run one opsbook.stack (or any FQCN) module on a host; the module's result (failed ones too)."""
        name = module if "." in module else f"opsbook.stack.{module}"
        argv = [str(BIN / "ansible"), host, "-i", str(self.inventory), "-m", name,
                "-a", args if isinstance(args, str) else json.dumps(args)]
        if become:
            argv.append("--become")
        if become_user:
            argv += ["--become-user", become_user]
        if check:
            argv.append("--check")
        # The JSON stdout callback alone (no report callback), so stdout is one JSON document.
        env = self.env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                       ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json")
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False, cwd=ROOT)
        try:
            doc = json.loads(done.stdout)
            return doc["plays"][0]["tasks"][0]["hosts"][host]
        except (ValueError, KeyError, IndexError) as exc:
            raise StackError(f"{name} on {host}: no result ({exc}); rc {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}") from None

    # -------------------------------------------------- commands on hosts

    @cached_property
    def _ssh(self) -> dict[str, str]:
        secrets = self.inventory / ".secrets" / "ssh"
        # SSH's control sockets: a short private directory, since a socket path
        # may not exceed about 100 characters (the checkout's path may be long).
        tag = hashlib.sha1(str(self.dir).encode()).hexdigest()[:10]
        control = Path(tempfile.gettempdir()) / f"opsbook-cp-{tag}"
        control.mkdir(mode=0o700, exist_ok=True)
        return {
            "key": str(secrets / "id_ed25519"),
            "options": " ".join([
                f"-o UserKnownHostsFile={secrets / 'known_hosts'}", "-o StrictHostKeyChecking=yes",
                "-o IdentitiesOnly=yes", "-o BatchMode=yes",
            ]),
            "control": str(control / "%C"),
        }

    def command(self, host: str, argv: Sequence[str], user: str | None = None) -> list[str]:
        """The local argv that runs argv on host as root (or as user), over the stack's connection."""
        if self.connection == "ssh":
            remote = ["sudo", "-n", *(["-u", user] if user else []), "--", *argv]
            return ["ssh", "-i", self._ssh["key"], *self._ssh["options"].split(),
                    "-o", "ControlMaster=auto", "-o", f"ControlPath={self._ssh['control']}", "-o", "ControlPersist=120",
                    f"{self.ssh_user}@{self.address(host)}", shlex.join(remote)]
        return ["docker", "exec", *(["-u", user] if user else []), host, *argv]

    @property
    def ssh_user(self) -> str:
        return "opsbook"

    def sh(self, host: str, script: str, *, check: bool = True, timeout: float = 300, user: str | None = None,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A shell script on a host as root (or user); raises StackError when check and it fails."""
        done = subprocess.run(self.command(host, ["sh", "-c", script], user=user), input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise StackError(f"{host}: {script!r} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done

    def psql(self, sql: str, db: str = "appdb") -> str:
        """One SQL statement as postgres on the db host over the socket; its unaligned output."""
        return self.sh(self.hosts("db")[0], f"psql -XAtq -v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(sql)}",
                       user="postgres").stdout.strip()

    def testinfra(self, host: str) -> testinfra.host.Host:
        """A testinfra host over the stack's connection (root)."""
        if self.connection == "ssh":
            return testinfra.get_host(
                f"ssh://{self.ssh_user}@{self.address(host)}", ssh_identity_file=self._ssh["key"],
                # testinfra %-formats its ssh command line: %C (the connection hash) is written %%C.
                ssh_extra_args=self._ssh["options"], controlpath=self._ssh["control"].replace("%", "%%"), sudo=True,
            )
        return testinfra.get_host(f"docker://root@{host}")

    def wait_for(self, what: str, probe: Callable[[], bool], timeout: float = 150, step: float = 2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            time.sleep(step)
        raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")

    # --------------------------------------------------------- lifecycle

    def create(self) -> PlaybookRun:
        self.write_inventory()
        self.__dict__.pop("_hosts_yml", None)
        self.__dict__.pop("secrets", None)
        return self.playbook("sandbox", report=False)

    def destroy(self) -> PlaybookRun | None:
        if not self.inventory.exists():
            return None
        return self.playbook("sandbox", "-e", "sandbox_state=absent", report=False)


class StackHost:
    """A stack host for tests: testinfra's modules over the stack's connection
    (run, file, socket, service, ...), its name and groups, and
    ``ansible(module, args, ...)`` running one module through Ansible."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.stack = stack
        self.name = name
        self.groups = stack.groups_of(name)
        self._host = stack.testinfra(name)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._host, item)

    def __repr__(self) -> str:
        return f"<StackHost {self.name}>"

    def ansible(self, module: str, args: dict[str, Any] | str, *, check: bool = False, become: bool = True,
                become_user: str | None = None) -> dict[str, Any]:
        return self.stack.module(self.name, module, args, check=check, become=become, become_user=become_user)

    def sh(self, script: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.stack.sh(self.name, script, **kwargs)

    def variables(self) -> dict[str, Any]:
        """The host's inventory variables as written (not templated)."""
        return json.loads(self.stack.ansible_inventory("--host", self.name))
