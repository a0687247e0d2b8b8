"""Run the stages of `make test` side by side and print their wall times.

    python scripts/test-stages.py [--jobs N] [--only STAGE ...] [--times build/test/times.json]

Each stage is one `make` target (so each can also be run alone). Stages that
need containers wait for the host images; the others start at once. At most
--jobs stages run at a time (default 3: the container stages mostly wait on
apt, systemd, PostgreSQL and the app, so three overlap well on two cores),
longest first. A heavier stage that waits only for a running stage (the
stacks for the host images, a moment when the images are up to date) keeps
its slot for up to RESERVE_SECONDS: the longest stages start first instead of
behind the short ones that happened to be ready. A stage's output goes to build/test/<stage>.log and is printed
whole when the stage ends, never interleaved with another one.

At the end a table gives every stage's start, wall time and result, the
phases and suites of the stack stages (their own timing files), and the
total; the same data is written as JSON (--times). The exit status is 1 when
any stage failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "build" / "test"
# How long a heavier stage waiting for a running one keeps a slot from lighter
# ready stages (long enough for up-to-date images, short against a real build).
RESERVE_SECONDS = 20.0


@dataclass
class Stage:
    name: str
    target: list[str]
    weight: int  # expected seconds on 2 cores: longest first
    needs: tuple[str, ...] = ()
    detail: str | None = None  # timing file the stage writes (stack stages)
    start: float = 0.0
    seconds: float = 0.0
    rc: int | None = None
    waiting_since: float | None = None  # first seen waiting for a running stage
    done: threading.Event = field(default_factory=threading.Event)


def stages() -> list[Stage]:
    stack_times = LOGS / "stack-{}.json"
    return [
        Stage("images", ["images-all"], 10_000),  # every container stage waits for it
        Stage("stack-bookworm", ["stack", "DEBIAN=bookworm", "CONNECTION=docker",
                                 f"STACK_TIMES={str(stack_times).format('bookworm')}"], 1500, ("images",),
              str(stack_times).format("bookworm")),
        Stage("stack-trixie", ["stack", "DEBIAN=trixie", "CONNECTION=ssh",
                               f"STACK_TIMES={str(stack_times).format('trixie')}"], 1500, ("images",),
              str(stack_times).format("trixie")),
        Stage("lint", ["lint"], 90),
        Stage("sanity", ["sanity"], 200),
        Stage("units", ["units"], 90),
        Stage("integration-local", ["integration-local"], 120),
        Stage("duplicates", ["duplicates"], 30),
        Stage("build", ["build"], 30),
        Stage("molecule-nginx", ["molecule-nginx"], 180, ("images",)),
        Stage("molecule-app", ["molecule-app"], 330, ("images",)),
        Stage("molecule-data", ["molecule-data"], 400, ("images",)),
        Stage("bench-smoke", ["bench-smoke"], 200, ("images",)),
    ]


def fmt(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


class Runner:
    """Start the heaviest ready stage whenever a slot is free."""

    def __init__(self, selected: list[Stage], jobs: int) -> None:
        self.stages = {s.name: s for s in selected}
        self.jobs = jobs
        self.changed = threading.Condition()
        self.print_lock = threading.Lock()
        self.t0 = time.monotonic()

    def ready(self, stage: Stage) -> bool | None:
        """True when every stage it needs passed, None when one failed, False while waiting."""
        for need in stage.needs:
            other = self.stages.get(need)
            if other is None:
                continue
            if other.rc is None:
                return False
            if other.rc != 0:
                return None
        return True

    def run(self, stage: Stage) -> None:
        log = LOGS / f"{stage.name}.log"
        with log.open("w") as out:
            done = subprocess.run(["make", "--no-print-directory", *stage.target], cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
        stage.seconds = time.monotonic() - self.t0 - stage.start
        with self.print_lock:
            print(f"=== {stage.name}: make {' '.join(stage.target)} ===", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
            verdict = "passed" if done.returncode == 0 else f"FAILED (rc {done.returncode})"
            print(f"=== {stage.name} {verdict} in {fmt(stage.seconds)} ===", flush=True)
        with self.changed:
            stage.rc = done.returncode
            self.changed.notify_all()

    def reserves_slot(self, stage: Stage, running: list[Stage], now: float) -> bool:
        """A stage waiting only for running stages keeps a slot for RESERVE_SECONDS."""
        if any(self.stages[need] not in running and self.stages[need].rc is None
               for need in stage.needs if need in self.stages):
            return False  # it also waits for a stage that has not started
        if stage.waiting_since is None:
            stage.waiting_since = now
        return now - stage.waiting_since < RESERVE_SECONDS

    def go(self) -> float:
        pending = sorted(self.stages.values(), key=lambda s: -s.weight)
        running: list[Stage] = []
        with self.changed:
            while pending or running:
                running = [s for s in running if s.rc is None]
                free = self.jobs - len(running)
                now = time.monotonic() - self.t0
                # Heaviest first; a heavier stage about to be ready keeps its slot.
                for stage in list(pending):
                    state = self.ready(stage)
                    if state is None:
                        stage.rc = -1  # not run: a stage it needs failed
                        pending.remove(stage)
                    elif state and free > 0:
                        stage.start = now
                        pending.remove(stage)
                        running.append(stage)
                        free -= 1
                        threading.Thread(target=self.run, args=(stage,), name=stage.name, daemon=True).start()
                    elif not state and self.reserves_slot(stage, running, now):
                        free -= 1
                if pending or running:
                    self.changed.wait(timeout=5)
        return time.monotonic() - self.t0


def table(selected: list[Stage], total: float) -> tuple[str, dict]:
    rows = ["", "make test: stage times (wall clock; stages run side by side)", "",
            "| stage | start | wall time | result |", "|---|---:|---:|---|"]
    data: dict = {"total_seconds": round(total, 1), "stages": []}
    for stage in sorted(selected, key=lambda s: s.start if s.rc != -1 else 1e9):
        result = {0: "passed", -1: "not run (a stage it needs failed)"}.get(stage.rc, f"FAILED (rc {stage.rc})")
        rows.append(f"| {stage.name} | {fmt(stage.start)} | {fmt(stage.seconds)} | {result} |")
        entry = {"name": stage.name, "start": round(stage.start, 1), "seconds": round(stage.seconds, 1), "rc": stage.rc}
        if stage.detail and Path(stage.detail).exists():
            detail = json.loads(Path(stage.detail).read_text())
            entry["detail"] = detail
            for phase in detail.get("phases", []):
                rows.append(f"| &nbsp;&nbsp;{stage.name}: {phase['name']} | | {fmt(phase['seconds'])} | |")
            for suite, info in detail.get("suites", {}).items():
                counts = ", ".join(f"{info[k]} {k}" for k in ("passed", "failed", "skipped") if info.get(k))
                rows.append(f"| &nbsp;&nbsp;{stage.name}: {Path(suite).name} | | {fmt(info['seconds'])} | {counts} |")
        data["stages"].append(entry)
    rows.append(f"| **total** | | **{fmt(total)}** ({total:.0f} s) | |")
    return "\n".join(rows), data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "3")))
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages")
    parser.add_argument("--times", type=Path, default=LOGS / "times.json")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be 1 or more, got {args.jobs}")
    selected = stages()
    if args.only:
        unknown = set(args.only) - {s.name for s in selected}
        if unknown:
            parser.error(f"unknown stage(s) {sorted(unknown)}; stages: {', '.join(s.name for s in selected)}")
        selected = [s for s in selected if s.name in args.only]
    LOGS.mkdir(parents=True, exist_ok=True)
    for stage in selected:
        if stage.detail:
            Path(stage.detail).unlink(missing_ok=True)
    print(f"make test: {len(selected)} stages, up to {args.jobs} at a time; logs in {LOGS.relative_to(ROOT)}/", flush=True)
    total = Runner(selected, args.jobs).go()
    text, data = table(selected, total)
    print(text)
    args.times.parent.mkdir(parents=True, exist_ok=True)
    data["jobs"] = args.jobs
    data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    data["loadavg_end"] = list(os.getloadavg())
    args.times.write_text(json.dumps(data, indent=2) + "\n")
    (args.times.with_suffix(".md")).write_text(text + "\n")
    failed = [s.name for s in selected if s.rc != 0]
    if failed:
        print(f"make test: FAILED: {', '.join(failed)} (logs in {LOGS.relative_to(ROOT)}/)")
        return 1
    print("make test: every stage passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
