# -*- coding: utf-8 -*-
# Copyright (c) opsbook.stack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""gfs_select: which backups a grandfather-father-son policy keeps (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.module_utils._gfs import GfsError, select


def gfs_select(backups: Any, policy: Any, now: Any = None) -> dict[str, Any]:
    """Split ``backups`` into keep/remove under ``policy``; see the sidecar documentation."""
    try:
        return select(backups, policy, now).as_dict()
    except GfsError as exc:
        raise AnsibleFilterError(f"gfs_select: {exc}") from None


class FilterModule:
    """opsbook.stack backup filters."""

    def filters(self) -> dict[str, Any]:
        return {"gfs_select": gfs_select}
