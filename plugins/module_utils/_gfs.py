# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grandfather-father-son selection of backups to keep: pure, no I/O.

Private to the collection: the ``gfs_select`` filter and the ``backup_rotate``
module import it as ``ansible_collections.opsbook.stack.plugins.module_utils._gfs``.

A backup is a mapping::

    id          unique string
    time        when it was taken: ISO 8601 (``2026-11-26T07:15:00Z``, an offset, or
                naive = UTC), a ``20261126T071500Z`` stamp, epoch seconds or a datetime;
                required unless ``identified`` is false
    verified    bool (default false): the backup passed verification
    depends_on  id of the backup it needs (an incremental's prior) or None
    identified  bool (default true): false for something that could not be identified

A policy is a mapping with the optional keys ``daily``, ``weekly``, ``monthly``,
``yearly`` (how many of the most recent UTC calendar days / ISO weeks / months / years
that have backups keep their newest backup) and ``max_age_days`` (a backup older
than that is removed unless protected; given alone: keep everything within it).
Values are ints >= 0 or None.

Invariants of :func:`select` (property-tested in tests/unit/plugins/module_utils/test_gfs.py):

* ``keep`` and ``remove`` partition the input ids;
* unidentified backups are kept;
* the newest verified backup and every backup at least as new are kept; when no
  backup is verified nothing is removed (nothing proves a restore would work);
* the ``depends_on`` chain of every kept backup is kept;
* a policy that would keep nothing is rejected (:class:`PolicyError` naming the key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import parse_utc, utc_now

COUNT_KEYS: tuple[str, ...] = ("daily", "weekly", "monthly", "yearly")
POLICY_KEYS: tuple[str, ...] = COUNT_KEYS + ("max_age_days",)


class GfsError(ValueError):
    """Bad input to the selection (policy or backup list)."""


class PolicyError(GfsError):
    """A policy that is malformed or would keep nothing; the message names the key."""


class BackupListError(GfsError):
    """A malformed backup entry; the message names the entry."""


@dataclass
class Policy:
    """A validated GFS policy."""

    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    yearly: int | None = None
    max_age_days: int | None = None

    def counts(self) -> dict[str, int]:
        """The count keys that are set (not None), in daily/weekly/monthly/yearly order."""
        return {key: getattr(self, key) for key in COUNT_KEYS if getattr(self, key) is not None}

    def has_counts(self) -> bool:
        """True when at least one count key keeps something."""
        return any(value for value in self.counts().values())

    def describe(self) -> str:
        """"daily 7/weekly 4/monthly 12" - the set count keys, for reasons."""
        return "/".join(f"{key} {value}" for key, value in self.counts().items())


@dataclass
class Backup:
    """One normalized backup."""

    id: str
    time: datetime | None
    verified: bool = False
    depends_on: str | None = None
    identified: bool = True


@dataclass
class Selection:
    """Result of a selection: ids to keep and remove (newest first) and why."""

    keep: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    protected: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filter's return value."""
        return {
            "keep": list(self.keep),
            "remove": list(self.remove),
            "reasons": dict(self.reasons),
            "protected": self.protected,
        }


def parse_policy(policy: Any, where: str = "policy") -> Policy:
    """Validate a policy mapping; ``where`` prefixes the messages (e.g. "policies.logical")."""
    if policy is None:
        policy = {}
    if not isinstance(policy, Mapping):
        raise PolicyError(f"{where} must be a mapping of {', '.join(POLICY_KEYS)}, got {type(policy).__name__}")
    values: dict[str, int | None] = {}
    for key, value in policy.items():
        if key not in POLICY_KEYS:
            raise PolicyError(f"{where}: unknown key {key!r} (known: {', '.join(POLICY_KEYS)})")
        if value is None:
            values[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
                value = int(value)
            else:
                raise PolicyError(f"{where}.{key} must be an integer >= 0 or null, got {value!r}")
        if value < 0:
            raise PolicyError(f"{where}.{key} must be an integer >= 0 or null, got {value!r}")
        values[key] = value
    parsed = Policy(**values)
    if parsed.max_age_days == 0:
        raise PolicyError(
            f"{where}.max_age_days 0 would remove every backup; use a value >= 1 or null"
        )
    if not parsed.has_counts() and parsed.max_age_days is None:
        zero = [key for key in COUNT_KEYS if values.get(key) == 0]
        unset = [key for key in POLICY_KEYS if values.get(key) is None]
        state = "; ".join(
            part
            for part in (
                f"{', '.join(zero)} {'is' if len(zero) == 1 else 'are'} 0" if zero else "",
                f"{', '.join(unset)} {'is' if len(unset) == 1 else 'are'} unset" if unset else "",
            )
            if part
        )
        raise PolicyError(
            f"{where} would keep nothing ({state}): set daily, weekly, monthly or yearly to >= 1, "
            "or max_age_days"
        )
    return parsed


def parse_time(value: Any, what: str = "time") -> datetime:
    """:func:`parse_utc` of a backup's time or of now (epoch seconds too); GfsError naming the value."""
    try:
        return parse_utc(value, what, epoch=True)
    except ValueError:
        raise GfsError(f"invalid {what} {value!r}: expected ISO 8601 (2026-11-26T07:15:00Z) or a datetime") from None


def parse_backups(backups: Any) -> list[Backup]:
    """Validate and normalize the backup list."""
    if isinstance(backups, (str, bytes)) or not isinstance(backups, Iterable):
        raise BackupListError(f"backups must be a list of mappings, got {type(backups).__name__}")
    parsed: list[Backup] = []
    seen: set[str] = set()
    for index, item in enumerate(backups):
        if not isinstance(item, Mapping):
            raise BackupListError(f"backups[{index}] must be a mapping, got {type(item).__name__}")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident:
            raise BackupListError(f"backups[{index}] has no id (a non-empty string)")
        if ident in seen:
            raise BackupListError(f"backups[{index}]: duplicate id {ident!r}")
        seen.add(ident)
        identified = bool(item.get("identified", True))
        raw_time = item.get("time")
        moment: datetime | None = None
        if raw_time is not None:
            try:
                moment = parse_time(raw_time)
            except GfsError as exc:
                raise BackupListError(f"backup {ident!r}: {exc}") from None
        elif identified:
            raise BackupListError(f"backup {ident!r} has no time (required unless identified is false)")
        depends_on = item.get("depends_on")
        if depends_on is not None and not isinstance(depends_on, str):
            raise BackupListError(f"backup {ident!r}: depends_on must be an id or null, got {depends_on!r}")
        parsed.append(
            Backup(
                id=ident,
                time=moment,
                verified=bool(item.get("verified", False)),
                depends_on=depends_on or None,
                identified=identified and moment is not None,
            )
        )
    return parsed


def _order_key(backup: Backup) -> tuple[int, float, str]:
    """Newest first; backups without a time last; id breaks ties."""
    if backup.time is None:
        return (1, 0.0, backup.id)
    return (0, -backup.time.timestamp(), backup.id)


_BUCKETS: dict[str, Callable[[datetime], tuple[tuple[int, ...], str]]] = {
    "daily": lambda t: ((t.year, t.month, t.day), t.strftime("%Y-%m-%d")),
    "weekly": lambda t: (
        (t.isocalendar()[0], t.isocalendar()[1]),
        f"{t.isocalendar()[0]}-W{t.isocalendar()[1]:02d}",
    ),
    "monthly": lambda t: ((t.year, t.month), t.strftime("%Y-%m")),
    "yearly": lambda t: ((t.year,), f"{t.year}"),
}


def _gfs_picks(candidates: Sequence[Backup], policy: Policy) -> dict[str, list[str]]:
    """id -> ["daily 2026-11-20", ...] for the newest backup of each selected bucket."""
    picks: dict[str, list[str]] = {}
    for key, count in policy.counts().items():
        if not count:
            continue
        newest: dict[tuple[int, ...], tuple[Backup, str]] = {}
        for backup in candidates:  # newest first: the first seen per bucket wins
            if backup.time is None:  # never for identified backups
                continue
            bucket, label = _BUCKETS[key](backup.time)
            newest.setdefault(bucket, (backup, label))
        for bucket in sorted(newest, reverse=True)[:count]:
            backup, label = newest[bucket]
            picks.setdefault(backup.id, []).append(f"{key} {label}")
    return picks


def _close_dependencies(
    keep: set[str], by_id: Mapping[str, Backup], reasons: dict[str, str]
) -> None:
    """Add the depends_on chain of every kept backup to ``keep`` (in place)."""
    stack = sorted(keep)
    while stack:
        current = stack.pop()
        prior = by_id[current].depends_on
        if prior is None or prior not in by_id:
            continue
        if prior not in keep:
            keep.add(prior)
            reasons[prior] = f"needed by {current}"
            stack.append(prior)


def _select(
    backups: list[Backup], policy: Policy | None, now: datetime
) -> tuple[set[str], dict[str, str], str | None]:
    """The per-group decision, before cross-group dependency closure (policy None keeps all)."""
    ordered = sorted(backups, key=_order_key)
    reasons: dict[str, str] = {}
    keep: set[str] = set()
    identified = [b for b in ordered if b.identified]
    for backup in ordered:
        if not backup.identified:
            keep.add(backup.id)
            reasons[backup.id] = "unidentified: never removed"

    newest_verified = next((b for b in identified if b.verified), None)
    protected = newest_verified.id if newest_verified else None
    if policy is None:
        for backup in identified:
            keep.add(backup.id)
            reasons[backup.id] = "not rotated (no policy for this kind)"
        return keep, reasons, protected
    picks = _gfs_picks(identified, policy)
    max_age = timedelta(days=policy.max_age_days) if policy.max_age_days is not None else None
    for backup in identified:
        if backup.time is None:  # never for identified backups
            continue
        why: list[str] = []
        if newest_verified is None:
            why.append("no verified backup: nothing is removed")
        elif backup.id == newest_verified.id:
            why.append("newest verified backup")
        elif newest_verified.time is not None and backup.time >= newest_verified.time:
            why.append("newer than the newest verified backup")
        too_old = max_age is not None and now - backup.time > max_age
        if why:
            if too_old:
                why.append(f"older than max_age_days {policy.max_age_days} but protected")
            elif backup.id in picks:
                why.append(", ".join(picks[backup.id]))
            keep.add(backup.id)
            reasons[backup.id] = "; ".join(why)
        elif too_old:
            reasons[backup.id] = f"older than max_age_days {policy.max_age_days}"
        elif not policy.has_counts():
            keep.add(backup.id)
            reasons[backup.id] = f"within max_age_days {policy.max_age_days}"
        elif backup.id in picks:
            keep.add(backup.id)
            reasons[backup.id] = ", ".join(picks[backup.id])
        else:
            reasons[backup.id] = f"not selected by {policy.describe()}"
    return keep, reasons, protected


def _now(now: Any) -> datetime:
    return utc_now() if now is None else parse_time(now, "now")


def _selection(ordered: Sequence[Backup], keep: set[str], reasons: dict[str, str], protected: str | None) -> Selection:
    return Selection(
        keep=[b.id for b in ordered if b.id in keep],
        remove=[b.id for b in ordered if b.id not in keep],
        reasons={b.id: reasons[b.id] for b in ordered},
        protected=protected,
    )


def select(backups: Any, policy: Any, now: Any = None) -> Selection:
    """Which backups a GFS ``policy`` keeps; raises :class:`GfsError` on bad input."""
    parsed_policy = parse_policy(policy)
    parsed = parse_backups(backups)
    keep, reasons, protected = _select(parsed, parsed_policy, _now(now))
    by_id = {b.id: b for b in parsed}
    _close_dependencies(keep, by_id, reasons)
    return _selection(sorted(parsed, key=_order_key), keep, reasons, protected)


def select_groups(
    groups: Mapping[str, Any], policies: Mapping[str, Any], now: Any = None
) -> dict[str, Selection]:
    """Select per group (each with its own policy), then keep dependency chains across groups.

    ``groups`` maps a group name to its backups, ``policies`` a group name to its policy
    (already validated, raw, or None: keep the whole group). Ids must be unique across all groups. A backup kept in one
    group keeps the backup it depends on even when that one is in another group (an
    incremental keeps its full).
    """
    moment = _now(now)
    parsed_groups: dict[str, list[Backup]] = {}
    by_id: dict[str, Backup] = {}
    for name, backups in groups.items():
        parsed_groups[name] = parse_backups(backups)
        for backup in parsed_groups[name]:
            if backup.id in by_id:
                raise BackupListError(f"duplicate id {backup.id!r} across groups")
            by_id[backup.id] = backup
    keep: set[str] = set()
    reasons: dict[str, str] = {}
    protected: dict[str, str | None] = {}
    for name, parsed in parsed_groups.items():
        policy = policies.get(name)
        if policy is not None and not isinstance(policy, Policy):
            policy = parse_policy(policy, f"policies.{name}")
        group_keep, group_reasons, protected[name] = _select(parsed, policy, moment)
        keep |= group_keep
        reasons.update(group_reasons)
    _close_dependencies(keep, by_id, reasons)
    return {
        name: _selection(sorted(parsed, key=_order_key), keep, reasons, protected[name])
        for name, parsed in parsed_groups.items()
    }
