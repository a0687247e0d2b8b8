# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Human-readable sizes for opsbook.stack messages (binary units: 1 KiB = 1024 B).

Private to the collection. Standard library only and importing nothing else
from the collection: the backup role also installs this file next to the
on-host tool opsbook-backup, which imports it as a top-level module.
"""

from __future__ import annotations

UNITS: tuple[str, ...] = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(size: float | None) -> str:
    """``1536`` -> ``1.5 KiB``, ``10`` -> ``10 B``; None (not known) -> ``?``."""
    if size is None:
        return "?"
    number = float(size)
    for unit in UNITS:
        if abs(number) < 1024 or unit == UNITS[-1]:
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    raise AssertionError("unreachable: the last unit always returns")  # pragma: no cover
