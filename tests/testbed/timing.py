"""Wall time of a test stage's phases and suites, for make test's stage table."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageClock:
    """Phases (create, converge, ...) and test files of one stage, in seconds."""

    stage: str
    phases: list[tuple[str, float]] = field(default_factory=list)
    suites: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.phases.append((name, time.monotonic() - start))

    def add_test(self, path: str, seconds: float, when: str, outcome: str) -> None:
        suite = self.suites.setdefault(path, {"seconds": 0.0, "passed": 0, "failed": 0, "skipped": 0})
        suite["seconds"] += seconds
        # A test counts once by its call; a setup or teardown that fails or skips counts too.
        if when == "call" or outcome != "passed":
            suite[outcome] = suite.get(outcome, 0) + 1

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "stage": self.stage,
            "started": self.started,
            "seconds": time.time() - self.started,
            "phases": [{"name": name, "seconds": round(seconds, 1)} for name, seconds in self.phases],
            "suites": {name: dict(data, seconds=round(data["seconds"], 1)) for name, data in self.suites.items()},
        }, indent=2) + "\n")
