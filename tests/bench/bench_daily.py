# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the daily checklist (playbooks/daily.yml) against a shell script.

Sub-commands (run from anywhere; paths are relative to the checkout; the
option --debian comes before the sub-command):

  image [--force]      build opsbook/bench-aio:<debian> (one all-in-one host
                       provisioned with playbooks/site.yml, docker commit);
                       reused while the label opsbook.bench.hash matches
  up N                 start bench-01..bench-NN from the image (built when
                       missing), wait until systemd runs and the app answers /health
  inventory N DIR      write an N-host inventory (groups db, cache, app, web)
  shell N [-P K]       run tests/bench/daily_checks.sh once on N hosts
  ansible N            run playbooks/daily.yml once on N hosts
  run                  the whole benchmark (image, hosts, warm-up, repetitions)
                       -> JSON + Markdown table under .cache/bench/results/
  run --smoke          the same plumbing at the smallest size (1 host, 1 rep,
                       no warm-up, no settling) -> build/bench-smoke/; fails
                       when a run did not produce its checks
  cost N               CPU seconds of one daily.yml and one shell run on N
                       running hosts (control node, Docker daemons, hosts)
  down                 remove every bench-* container and the opsbook-bench network

Every container is created by playbooks/sandbox.yml (tests/bench/bench_hosts.py),
so it runs as roles/sandbox defines a sandbox host; the systemd host image
is built when missing. Only containers named bench-* and the network opsbook-bench are touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import signal
import tempfile
import time
from pathlib import Path

import bench_hosts

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tests" / "bench"
CACHE = ROOT / ".cache" / "bench"
SMOKE = ROOT / "build" / "bench-smoke"
SECRETS = CACHE / "secrets"
# The tools of the Python environment that runs the benchmark (make runs it with the venv's python).
VENV_BIN = Path(sys.executable).parent
NETWORK = "opsbook-bench"
BASE = "bench-base"
LABEL = "opsbook.bench"
SHELL_SCRIPT = BENCH / "daily_checks.sh"
# The check families every bench host reports (it is in the groups db, cache, app and web).
FAMILIES = ("host", "pg", "redis", "http", "log", "tls")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(args: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(args, text=True, capture_output=capture, check=False, **kw)
    if check and res.returncode != 0:
        out = ((res.stdout or "") + (res.stderr or "")).strip()
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(args)}\n{out[-3000:]}")
    return res


def ansible_env() -> dict[str, str]:
    return bench_hosts.ansible_env(OPSBOOK_BENCH_SECRETS=str(SECRETS))


def host_names(n: int) -> list[str]:
    return [f"bench-{i:02d}" for i in range(1, n + 1)]


# ------------------------------------------------------------------ image

def image_name(debian: str) -> str:
    return f"opsbook/bench-aio:{debian}"


def source_hash(debian: str) -> str:
    """Hash of everything the image is built from: provisioning roles, site.yml,
    the bench inventory (following the links to the sandbox group_vars), the
    base image id."""
    h = hashlib.sha256()
    paths: list[Path] = [ROOT / "playbooks" / "site.yml", BENCH / "provision.yml"]
    for role in ("postgresql", "redis", "app", "nginx", "backup"):
        paths += sorted(p for p in (ROOT / "roles" / role).rglob("*") if p.is_file())
    paths += sorted(p for p in (BENCH / "inventory").rglob("*") if p.is_file())
    for p in paths:
        if "__pycache__" in p.parts:
            continue
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    base = sh(["docker", "image", "inspect", "-f", "{{.Id}}", bench_hosts.base_image(debian)]).stdout.strip()
    h.update(base.encode())
    return h.hexdigest()[:16]


def image_label(debian: str, key: str) -> str | None:
    res = sh(["docker", "image", "inspect", "-f", f'{{{{ index .Config.Labels "{LABEL}.{key}" }}}}',
              image_name(debian)], check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def secrets_hash() -> str:
    """Hash of the generated secrets the image was provisioned with: the
    checklist and the shell script read them from .cache/bench/secrets, so an
    image whose secrets are gone (make clean) is rebuilt, not used with new ones."""
    h = hashlib.sha256()
    for p in sorted(SECRETS.rglob("*")) if SECRETS.is_dir() else []:
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def create_hosts(names: list[str], image: str, debian: str, memory: str) -> None:
    """The containers through playbooks/sandbox.yml: network opsbook-bench, a
    memory cap, no CPU cap (the hosts share the machine's CPUs)."""
    inventory = bench_hosts.write_inventory(CACHE / "sandbox", names, image=image, debian=debian, network=NETWORK,
                                            memory=memory, comment="the bench containers")
    secs = bench_hosts.create(inventory, CACHE / "logs" / "sandbox.log")
    log(f"playbooks/sandbox.yml: {', '.join(names)} running ({secs:.0f} s)")


def build_image(debian: str, force: bool, memory: str) -> str:
    """opsbook/bench-aio:<debian>: bench-base from the systemd host image,
    provisioned by provision.yml, cleaned (no SSH host keys, no downloaded
    packages), stopped and committed; reused while its hash label matches."""
    base_image = bench_hosts.ensure_base_image(debian, log)
    want = source_hash(debian)
    image = image_name(debian)
    if not force and image_label(debian, "hash") == want and image_label(debian, "secrets") == secrets_hash():
        log(f"{image} is up to date (hash {want})")
        return image
    log(f"building {image} (hash {want}): provisioning {BASE} with playbooks/site.yml")
    t_build = time.time()
    SECRETS.mkdir(parents=True, exist_ok=True)
    os.chmod(SECRETS, 0o700)
    bench_hosts.remove([BASE])
    create_hosts([BASE], base_image, debian, memory)
    t0 = time.time()
    # profile_tasks: the slowest provisioning tasks at the end of the output.
    env = bench_hosts.ansible_env(OPSBOOK_BENCH_SECRETS=str(SECRETS), OPSBOOK_REPORT_DIR=str(CACHE / "reports"),
                                  ANSIBLE_CALLBACKS_ENABLED="opsbook.stack.checklist,ansible.posix.profile_tasks",
                                  PROFILE_TASKS_TASK_OUTPUT_LIMIT="15")
    res = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(BENCH / "inventory"), str(BENCH / "provision.yml")],
        env=env, cwd=ROOT, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"provisioning {BASE} failed (rc {res.returncode})")
    log(f"provisioned in {time.time() - t0:.0f} s; cleaning, stopping {BASE} and committing")
    # Host keys are never part of an image: every host from it makes its own
    # at its first boot (opsbook-ssh-hostkeys.service). The packages apt
    # downloaded are not needed on the hosts and only make the commit longer.
    sh(["docker", "exec", BASE, "sh", "-c", "rm -f /etc/ssh/ssh_host_*; apt-get clean; rm -rf /root/.cache/pip"])
    sh(["docker", "stop", "-t", "60", BASE])
    # CMD and STOPSIGNAL (SIGRTMIN+3) are inherited from the base image.
    sh(["docker", "commit", "--change", f"LABEL {LABEL}.hash={want}", "--change", f"LABEL {LABEL}.secrets={secrets_hash()}",
        BASE, image])
    # The network goes too unless bench hosts are on it (docker refuses then).
    bench_hosts.remove([BASE], NETWORK)
    keys = sh(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", "ls /etc/ssh/ssh_host_* 2>/dev/null || true"]).stdout.split()
    if keys:
        raise SystemExit(f"{image} carries SSH host keys ({', '.join(keys)}): an image must not")
    log(f"{image} built in {time.time() - t_build:.0f} s")
    return image


# ------------------------------------------------------------------ hosts

def all_bench() -> list[str]:
    out = sh(["docker", "ps", "-a", "--filter", "name=^bench-", "--format", "{{.Names}}"]).stdout.split()
    return sorted(n for n in out if n.startswith("bench-"))


def wait_app(name: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        res = sh(["docker", "exec", name, "curl", "-fsS", "-m", "5", "http://127.0.0.1:8000/health"], check=False)
        if res.returncode == 0 and '"healthy"' in res.stdout:
            res = sh(["docker", "exec", name, "curl", "-kfsS", "-m", "5", "https://127.0.0.1/health"], check=False)
            if res.returncode == 0:
                return
        time.sleep(2)
    raise SystemExit(f"{name}: the app does not answer /health healthy after {timeout:.0f} s")


def hosts_up(n: int, debian: str, memory: str) -> list[str]:
    """Exactly bench-01..bench-NN running (extra bench-NN are removed so they cost no CPU)."""
    want = host_names(n)
    bench_hosts.remove(set(all_bench()) - set(want) - {BASE})
    create_hosts(want, image_name(debian), debian, memory)
    for name in want:
        # The image carries the backup role's timers; a backup firing during a
        # measurement would be timed with it. The daily checklist does not need them.
        sh(["docker", "exec", name, "sh", "-c",
            "systemctl list-units --all --plain --no-legend 'opsbook-backup*.timer' | awk '{print $1}' | "
            "xargs -r systemctl stop"])
    for name in want:
        wait_app(name)
    return want


def hosts_down() -> None:
    names = bench_hosts.remove(all_bench(), NETWORK)
    if names:
        log(f"removed {len(names)} container(s) and the network {NETWORK}")


def write_inventory(n: int, directory: Path) -> Path:
    """hosts.yml with N all-in-one hosts + a link to the bench group_vars."""
    directory.mkdir(parents=True, exist_ok=True)
    hosts = "".join(f"            {h}:\n" for h in host_names(n))
    groups = "".join(f"        {g}:\n          hosts:\n{hosts}" for g in ("db", "cache", "app", "web"))
    (directory / "hosts.yml").write_text(
        f"---\n# Generated by tests/bench/bench_daily.py: {n} all-in-one bench host(s).\n"
        f"all:\n  children:\n    bench:\n      children:\n{groups}")
    link = directory / "group_vars"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(BENCH / "inventory" / "group_vars")
    return directory


# ------------------------------------------------------------------ one run

PROFILE_LINE = re.compile(r"^(?P<task>.+?) -{2,} (?P<secs>\d+\.\d+)s\s*$")


def run_ansible(n: int, inventory: Path, workdir: Path, playbook: Path | None = None, pipelining: bool = False) -> dict:
    """playbooks/daily.yml on N hosts with the checklist report callback and
    profile_tasks; returns wall time, rc and the per-task times. pipelining:
    ANSIBLE_PIPELINING=1 (ansible.cfg sets it for ssh only, the docker
    connection then copies every module to the host before running it)."""
    env = ansible_env()
    if pipelining:
        env["ANSIBLE_PIPELINING"] = "1"
    env["ANSIBLE_CALLBACKS_ENABLED"] = "opsbook.stack.checklist,ansible.posix.profile_tasks"
    env["PROFILE_TASKS_SORT_ORDER"] = "none"
    env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "all"
    env["OPSBOOK_REPORT_DIR"] = str(workdir / "reports")
    args = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "-f", str(max(n, 1)),
            str(playbook or ROOT / "playbooks" / "daily.yml")]
    reports = workdir / "reports"
    before = set(reports.glob("*/report.json"))
    t0 = time.perf_counter()
    res = subprocess.run(args, env=env, cwd=ROOT, text=True, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    new = sorted(set(reports.glob("*/report.json")) - before)
    tasks = []
    for line in res.stdout.splitlines():
        m = PROFILE_LINE.match(line.strip())
        if m:
            tasks.append((m["task"].strip(), float(m["secs"])))
    summary = [ln for ln in res.stdout.splitlines() if re.match(r"^\S+\s+: ok=", ln)]
    return {"wall": wall, "rc": res.returncode, "tasks": tasks, "recap": summary, "output": res.stdout + res.stderr,
            "checks": report_counts(json.loads(new[-1].read_text())) if new else {}}


def report_counts(report: dict) -> dict[str, dict[str, int]]:
    """Per host of a checklist report: how many checks of each status."""
    out: dict[str, dict[str, int]] = {}
    for host in report.get("hosts", []):
        counts = out.setdefault(host["name"], {})
        for item in host["checks"]:
            counts[item["status"]] = counts.get(item["status"], 0) + 1
            family = item["check"].split(".", 1)[0]
            counts["family:" + family] = counts.get("family:" + family, 0) + 1
    return out


def run_shell(hosts: list[str], jobs: int) -> dict:
    env = dict(os.environ)
    env["BENCH_SECRETS"] = str(SECRETS)
    args = ["bash", str(SHELL_SCRIPT)] + (["-P", str(jobs)] if jobs > 1 else []) + hosts
    t0 = time.perf_counter()
    res = subprocess.run(args, env=env, text=True, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    summary = [ln for ln in res.stdout.splitlines() if " summary ok=" in ln]
    return {"wall": wall, "rc": res.returncode, "summary": summary, "output": res.stdout + res.stderr}


def docker_exec_cost(host: str, count: int = 20) -> float:
    t0 = time.perf_counter()
    for _i in range(count):
        sh(["docker", "exec", host, "true"])
    return (time.perf_counter() - t0) / count


# ------------------------------------------------------------------ CPU cost

def _proc_cpu(names: tuple[str, ...]) -> float:
    """CPU seconds (user + system) of the processes with these names (the Docker daemons)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name in names:
            fields = text[text.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _containers_cpu(hosts: list[str]) -> float:
    """CPU seconds used inside the bench containers (cgroup cpuacct v1 or cpu.stat v2)."""
    total = 0.0
    ids = sh(["docker", "inspect", "-f", "{{.Id}}", *hosts]).stdout.split()
    for cid in ids:
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat")
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2.exists():
            total += int(re.search(r"usage_usec (\d+)", v2.read_text())[1]) / 1e6
    return total


def cpu_cost(n: int, pipelining: bool = False) -> dict:
    """CPU seconds one daily.yml run and one shell run cost, split by where
    they are spent: control node (the command and its children: ansible
    workers, docker CLI, psql output parsing...), Docker daemons, hosts."""
    hosts = host_names(n)
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-daily-") as tmp:
        inv = write_inventory(n, Path(tmp) / "inventory")
        variants = {
            "ansible": lambda: run_ansible(n, inv, Path(tmp), pipelining=pipelining),
            "shell_serial": lambda: run_shell(hosts, 1),
        }
        for name, fn in variants.items():
            idle0 = _containers_cpu(hosts)
            time.sleep(5)
            idle = (_containers_cpu(hosts) - idle0) / 5  # background CPU/s of the hosts (app, database)
            ch0 = os.times()
            d0, c0 = _proc_cpu(("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc")), _containers_cpu(hosts)
            r = fn()
            ch1 = os.times()
            d1, c1 = _proc_cpu(("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc")), _containers_cpu(hosts)
            out[name] = {
                "wall": round(r["wall"], 1),
                "control_cpu": round((ch1.children_user - ch0.children_user) + (ch1.children_system - ch0.children_system), 1),
                "docker_daemons_cpu": round(d1 - d0, 1),
                "hosts_cpu": round(c1 - c0 - idle * r["wall"], 1),
                "hosts_background_cpu_per_s": round(idle, 2),
            }
            log(f"cost {name}: {out[name]}")
    return out


# ------------------------------------------------------------------ benchmark

def machine_info(debian: str) -> dict:
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    core = sh([str(VENV_BIN / "python"), "-c", "import ansible; print(ansible.__version__)"]).stdout.strip()
    docker = sh(["docker", "version", "-f", "{{.Server.Version}}"]).stdout.strip()
    control = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else platform.platform()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), platform.machine()),
        "kernel": platform.release(),
        "control_debian": control,
        "hosts_debian": debian,
        "ansible_core": core,
        "docker": docker,
    }


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def problems(cfg: dict) -> list[str]:
    """What shows that a run of this host count did not do its work: an
    ansible-playbook error or unreachable host (rc other than 0 and 2, the
    gate's status when a check is critical), a host without checks of every
    family in the report, a host without the shell script's summary line."""
    hosts = host_names(cfg["hosts"])
    found = []
    for name, runs in cfg["runs"].items():
        for number, run in enumerate(runs, 1):
            what = f"N={cfg['hosts']} {name} run {number}"
            if name == "ansible_noop":
                if run["rc"] != 0:
                    found.append(f"{what}: rc {run['rc']}")
            elif name.startswith("ansible"):
                if run["rc"] not in (0, 2):
                    found.append(f"{what}: rc {run['rc']}")
                for host in hosts:
                    missing = [f for f in FAMILIES if not run["checks"].get(host, {}).get("family:" + f)]
                    if missing:
                        found.append(f"{what}: {host} has no {', '.join(missing)} checks in the report")
            else:
                if run["rc"] not in (0, 2):
                    found.append(f"{what}: rc {run['rc']}")
                done = {line.split()[0] for line in run["summary"]}
                if set(hosts) - done:
                    found.append(f"{what}: no summary line for {', '.join(sorted(set(hosts) - done))}")
    return found


def benchmark(sizes: list[int], reps: int, debian: str, memory: str, settle: float, out: Path,
              serial_reps_above: int, pipelining_sizes: list[int], ansible_warmup_max: int = 1000,
              warmup: bool = True, exec_count: int = 20) -> dict:
    """Per host count: one untimed warm-up (daily.yml, shell script), then
    `reps` interleaved repetitions of daily.yml, the serial and the parallel
    shell script; then one run each of the evidence variants (pipelining,
    noop). The serial shell script runs once (not `reps` times) above
    `serial_reps_above` hosts: it is N times the one-host time and the most
    expensive run of the set. results["problems"] lists the runs that did not
    do their work (see problems())."""
    build_image(debian, False, memory)
    info = machine_info(debian)
    info.update(memory_cap=memory, reps=reps, sizes=sizes)
    results: dict = {"machine": info, "configs": {}, "problems": []}
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-daily-"))

    def timed(cfg: dict, name: str, fn, label: str) -> None:
        before = loadavg()
        r = fn()
        out.mkdir(parents=True, exist_ok=True)
        (out / f"n{cfg['hosts']:02d}-{name}-{label}.log").write_text(r.pop("output"))
        r["load1_before"] = before
        log(f"  {label} {name}: {r['wall']:.1f} s rc {r['rc']} (load {before:.1f})")
        if label != "warmup":
            cfg["runs"].setdefault(name, []).append(r)

    try:
        for n in sizes:
            t_up = time.time()
            hosts = hosts_up(n, debian, memory)
            log(f"{n} host(s) up in {time.time() - t_up:.0f} s; settling {settle:.0f} s")
            time.sleep(settle)
            inv = write_inventory(n, work / f"inventory-{n}")
            ansible = functools.partial(run_ansible, n, inv, work)
            serial = functools.partial(run_shell, hosts, 1)
            parallel = functools.partial(run_shell, hosts, n)
            cfg: dict = {"hosts": n, "exec_cost_s": docker_exec_cost(hosts[0], exec_count), "runs": {}}
            log(f"N={n}: docker exec round trip {cfg['exec_cost_s'] * 1000:.0f} ms (load {loadavg():.1f})")
            if warmup:
                if n <= ansible_warmup_max:
                    timed(cfg, "ansible", ansible, "warmup")
                timed(cfg, "shell_parallel" if n > 1 else "shell_serial", parallel if n > 1 else serial, "warmup")
            for rep in range(1, reps + 1):
                timed(cfg, "ansible", ansible, f"rep{rep}")
                if n <= serial_reps_above or rep == 1:
                    timed(cfg, "shell_serial", serial, f"rep{rep}")
                if n > 1:
                    timed(cfg, "shell_parallel", parallel, f"rep{rep}")
            if n in pipelining_sizes:
                timed(cfg, "ansible_pipelining", lambda: run_ansible(n, inv, work, pipelining=True), "rep1")
            timed(cfg, "ansible_noop", lambda: run_ansible(n, inv, work, BENCH / "noop.yml"), "rep1")
            cfg["stats"] = {k: stats([r["wall"] for r in v]) for k, v in cfg["runs"].items()}
            results["problems"] += problems(cfg)
            results["configs"][str(n)] = cfg
            (out / "results.json").write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["table"] = table(results)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "table.md").write_text(results["table"])
    return results


def table(results: dict) -> str:
    """Markdown: one row per host count and variant, ratios against the shell
    script (serial and parallel) and against the 1-host daily.yml time."""
    m = results["machine"]
    rows = ["| N hosts | variant | reps | median | min | max | / shell serial | / shell parallel | / same variant at N=1 |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    one = results["configs"].get("1", {}).get("stats", {})
    for n, cfg in results["configs"].items():
        st = cfg["stats"]
        ser = st["shell_serial"]["median"]
        par = st.get("shell_parallel", st["shell_serial"])["median"]
        for name, v in st.items():
            base1 = one.get(name, one.get("shell_serial") if name == "shell_parallel" else None)
            vs1 = f"{v['median'] / base1['median']:.2f}x" if base1 else "n/a"
            rows.append(f"| {n} | {name} | {len(v['runs'])} | {v['median']:.1f} s | {v['min']:.1f} s | {v['max']:.1f} s | "
                        f"{v['median'] / ser:.2f}x | {v['median'] / par:.2f}x | {vs1} |")
    head = (f"{m['date']}, {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, control node Debian "
            f"{m['control_debian']}, hosts Debian {m['hosts_debian']}, ansible-core {m['ansible_core']}, "
            f"Docker {m['docker']}, memory cap {m['memory_cap']} per host\n\n")
    return head + "\n".join(rows) + "\n"


# ------------------------------------------------------------------ CLI

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debian", default=os.environ.get("BENCH_DEBIAN", "bookworm"), choices=["bookworm", "trixie"])
    p.add_argument("--memory", default=os.environ.get("BENCH_MEMORY", "1g"), help="memory cap per bench host (1g)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("image", help="build the bench image when the roles changed")
    s.add_argument("--force", action="store_true")
    s = sub.add_parser("up", help="start bench-01..bench-NN")
    s.add_argument("n", type=int)
    s = sub.add_parser("inventory", help="write an N-host inventory")
    s.add_argument("n", type=int)
    s.add_argument("dir", type=Path)
    s = sub.add_parser("shell", help="run daily_checks.sh once")
    s.add_argument("n", type=int)
    s.add_argument("-P", "--jobs", type=int, default=1)
    s = sub.add_parser("ansible", help="run playbooks/daily.yml once")
    s.add_argument("n", type=int)
    s.add_argument("--pipelining", action="store_true")
    s.add_argument("--playbook", type=Path)
    s = sub.add_parser("run", help="the whole benchmark")
    s.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "1,5,20"))
    s.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "3")))
    s.add_argument("--settle", type=float, default=float(os.environ.get("BENCH_SETTLE", "30")),
                   help="seconds to wait after starting hosts (boot load settles)")
    s.add_argument("--keep", action="store_true", help="leave the bench hosts running")
    s.add_argument("--serial-reps-above", type=int, default=int(os.environ.get("BENCH_SERIAL_REPS_ABOVE", "5")),
                   help="above this many hosts the serial shell script runs once")
    s.add_argument("--ansible-warmup-max", type=int, default=int(os.environ.get("BENCH_ANSIBLE_WARMUP_MAX", "1000")),
                   help="above this many hosts skip the untimed daily.yml warm-up (the shell warm-up still runs)")
    s.add_argument("--pipelining-sizes", default=os.environ.get("BENCH_PIPELINING_SIZES", "1,20"),
                   help="host counts that also time daily.yml with ANSIBLE_PIPELINING=1")
    s.add_argument("--smoke", action="store_true",
                   help="the plumbing only: 1 host, 1 rep, no warm-up, no settling, no pipelining variant; "
                        "results under build/bench-smoke/; exit 1 when a run did not do its work")
    s = sub.add_parser("cost", help="CPU seconds of one daily.yml run and one shell run on N running hosts")
    s.add_argument("n", type=int)
    s.add_argument("--pipelining", action="store_true")
    sub.add_parser("down", help="remove every bench-* container and the network")
    a = p.parse_args()
    # A stopped run (CI time limit, Ctrl-C) still removes its hosts (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.cmd == "image":
        build_image(a.debian, a.force, a.memory)
    elif a.cmd == "up":
        build_image(a.debian, False, a.memory)
        hosts_up(a.n, a.debian, a.memory)
    elif a.cmd == "inventory":
        print(write_inventory(a.n, a.dir))
    elif a.cmd == "shell":
        r = run_shell(host_names(a.n), a.jobs)
        print(r["output"], end="")
        print(f"wall {r['wall']:.2f} s rc {r['rc']}")
        return r["rc"]
    elif a.cmd == "ansible":
        with tempfile.TemporaryDirectory(prefix="bench-daily-") as tmp:
            r = run_ansible(a.n, write_inventory(a.n, Path(tmp) / "inventory"), Path(tmp), a.playbook, a.pipelining)
        print(r["output"], end="")
        print(f"wall {r['wall']:.2f} s rc {r['rc']}")
        return r["rc"]
    elif a.cmd == "run":
        stamp = time.strftime("%Y%m%dT%H%M%S")
        t0 = time.time()
        if a.smoke:
            out = SMOKE / f"daily-{a.debian}-{stamp}"
            args = dict(sizes=[1], reps=1, settle=0, pipelining_sizes=[], warmup=False, exec_count=5)
        else:
            out = CACHE / "results" / stamp
            args = dict(sizes=[int(x) for x in a.sizes.split(",")], reps=a.reps, settle=a.settle,
                        pipelining_sizes=[int(x) for x in a.pipelining_sizes.split(",") if x])
        try:
            res = benchmark(debian=a.debian, memory=a.memory, out=out, serial_reps_above=a.serial_reps_above,
                            ansible_warmup_max=a.ansible_warmup_max, **args)
        finally:
            if not a.keep:
                hosts_down()
        print(res["table"])
        log(f"done in {(time.time() - t0) / 60:.1f} min; logs and results.json in {out}")
        for problem in res["problems"]:
            log(f"PROBLEM: {problem}")
        if a.smoke and res["problems"]:
            return 1
    elif a.cmd == "cost":
        print(json.dumps(cpu_cost(a.n, a.pipelining), indent=2))
    elif a.cmd == "down":
        hosts_down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
