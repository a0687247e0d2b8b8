"""opsbook.stack.in_window: weekly maintenance windows."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.filter.window import in_window

# 2026-11-29 is a Sunday, 2026-11-27 a Friday.


@pytest.mark.parametrize(
    "windows, now, inside",
    [
        ("Sun 02:00-04:00", "2026-11-29T02:00:00", True),
        ("Sun 02:00-04:00", "2026-11-29T03:59:59", True),
        ("Sun 02:00-04:00", "2026-11-29T04:00:00", False),
        ("Sun 02:00-04:00", "2026-11-28T02:30:00", False),
        ("Mon-Fri 23:00-01:00", "2026-11-28T00:30:00", True),
        ("Mon-Fri 23:00-01:00", "2026-11-29T00:30:00", False),
        ("Sat-Mon 12:00-13:00", "2026-11-29T12:10:00", True),
        ("Tue,Thu 01:00-02:00", "2026-11-26T01:30:00", True),
        ("daily 23:00-24:00", "2026-11-26T23:30:00", True),
        (["Sun 02:00-04:00", "Wed 10:00-11:00"], "2026-11-25T10:15:00", True),
        ([], "2026-11-25T10:15:00", False),
        ("", None, False),
    ],
)
def test_inside_or_outside(windows, now, inside):
    assert in_window(windows, now) is inside


@pytest.mark.parametrize("bad", ["Sunday 02:00-04:00", "Sun 2-4", "Sun 25:00-26:00", "Sun 02:00-02:00", "Xyz 01:00-02:00"])
def test_malformed_windows_are_refused_by_name(bad):
    with pytest.raises(AnsibleFilterError, match="maintenance window"):
        in_window(bad, "2026-11-29T02:30:00")
