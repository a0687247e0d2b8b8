# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by the opsbook.stack check modules."""

from __future__ import annotations


class ModuleDocFragment:
    """Options and attributes common to every check module."""

    # pylint: disable=duplicate-code
    DOCUMENTATION = r"""
options:
  checks:
    description:
      - Names of the checks to run, from the list this module knows.
      - Omit to run all of them. An unknown name fails the module with a message listing the known ones.
    type: list
    elements: str
  thresholds:
    description:
      - Overrides of the default thresholds, keyed by threshold name (see the module's notes for the names and defaults).
      - Each value is a mapping with C(warn), C(crit) and optionally C(direction) (C(above) or C(below));
        keys left out keep the default, an explicit C(null) turns that level off.
      - A warn level beyond the crit level (for example warn 90 and crit 80 with direction C(above)) fails the module
        with a message naming the threshold.
    type: dict
    default: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The checks only read; they run the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Every result follows the opsbook.stack result contract (docs/checks.md) - C(check), C(status) (ok, warn, crit or unknown),
    C(value), C(warn), C(crit), C(unit), C(message) and C(details). A check that cannot measure reports C(unknown) with the reason.
  - Findings never fail the module; only bad options do. Gate a play on RV(summary.worst) or let the
    opsbook.stack.checklist callback report the run.
"""
    # pylint: enable=duplicate-code
