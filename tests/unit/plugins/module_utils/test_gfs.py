"""GFS backup selection (module_utils/_gfs.py and the gfs_select filter): tables and properties."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.opsbook.stack.plugins.filter.backup import FilterModule, gfs_select
from ansible_collections.opsbook.stack.plugins.module_utils import _gfs
from ansible_collections.opsbook.stack.plugins.module_utils._gfs import PolicyError, select, select_groups

UTC = timezone.utc


def daily_calendar(first: date, last: date, hour: int = 1, verified: bool = True) -> list[dict]:
    days = (last - first).days + 1
    return [
        {
            "id": f"{(first + timedelta(days=n)).strftime('%Y%m%d')}T{hour:02d}0000Z-logical-appdb",
            "time": f"{first + timedelta(days=n)}T{hour:02d}:00:00Z",
            "verified": verified,
        }
        for n in range(days)
    ]


def ident(day: str, hour: int = 1, kind: str = "logical-appdb") -> str:
    return f"{day.replace('-', '')}T{hour:02d}0000Z-{kind}"


# ------------------------------------------------------------------ table tests of a known calendar

KNOWN = daily_calendar(date(2025, 1, 1), date(2026, 11, 26))
NOW = "2026-11-26T12:00:00Z"


def test_known_calendar_daily_weekly_monthly_yearly():
    sel = gfs_select(KNOWN, {"daily": 7, "weekly": 4, "monthly": 12, "yearly": 3}, now=NOW)
    daily = [f"2026-11-{d}" for d in range(20, 27)]
    weekly = ["2026-11-22", "2026-11-15", "2026-11-08"]  # W47..W45 (W48 is 2026-11-26, already daily)
    monthly = ["2026-10-31", "2026-09-30", "2026-08-31", "2026-07-31", "2026-06-30", "2026-05-31",
               "2026-04-30", "2026-03-31", "2026-02-28", "2026-01-31", "2025-12-31"]
    expected = sorted({ident(d) for d in daily + weekly + monthly}, reverse=True)
    assert sel["keep"] == expected  # newest first
    assert len(sel["keep"]) + len(sel["remove"]) == len(KNOWN)
    assert sel["protected"] == ident("2026-11-26")
    reasons = sel["reasons"]
    assert reasons[ident("2026-11-26")] == (
        "newest verified backup; daily 2026-11-26, weekly 2026-W48, monthly 2026-11, yearly 2026"
    )
    assert reasons[ident("2026-11-22")] == "daily 2026-11-22, weekly 2026-W47"
    assert reasons[ident("2026-11-15")] == "weekly 2026-W46"
    assert reasons[ident("2026-11-08")] == "weekly 2026-W45"
    assert reasons[ident("2026-10-31")] == "monthly 2026-10"
    assert reasons[ident("2025-12-31")] == "monthly 2025-12, yearly 2025"
    assert reasons[ident("2026-11-19")] == "not selected by daily 7/weekly 4/monthly 12/yearly 3"
    assert reasons[ident("2025-11-30")] == "not selected by daily 7/weekly 4/monthly 12/yearly 3"


def test_known_calendar_yearly_keeps_the_last_of_each_year():
    sel = gfs_select(KNOWN, {"yearly": 5}, now=NOW)
    assert sel["keep"] == [ident("2026-11-26"), ident("2025-12-31")]
    assert sel["reasons"][ident("2025-12-31")] == "yearly 2025"


def test_known_calendar_max_age_only_keeps_everything_within():
    sel = gfs_select(KNOWN, {"max_age_days": 30}, now=NOW)
    # 2026-10-27T01:00 is 30 days 11 h old: removed; 2026-10-28T01:00 is 29 days 11 h old: kept
    assert sel["keep"][-1] == ident("2026-10-28") and len(sel["keep"]) == 30
    assert sel["reasons"][ident("2026-10-27")] == "older than max_age_days 30"
    assert sel["reasons"][ident("2026-11-01")] == "within max_age_days 30"


def test_max_age_cuts_gfs_picks_but_not_the_protected_backup():
    sel = gfs_select(KNOWN, {"monthly": 24, "max_age_days": 90}, now=NOW)
    assert ident("2026-08-31") in sel["keep"]  # 87 days old
    assert sel["reasons"][ident("2026-07-31")] == "older than max_age_days 90"
    # when the only verified backup is old, it stays (and everything newer)
    calendar = [dict(b, verified=b["time"] < "2026-01-01") for b in KNOWN]
    sel = gfs_select(calendar, {"max_age_days": 90}, now=NOW)
    assert sel["protected"] == ident("2025-12-31")
    assert sel["reasons"][ident("2025-12-31")] == "newest verified backup; older than max_age_days 90 but protected"
    assert sel["reasons"][ident("2026-01-01")] == "newer than the newest verified backup; older than max_age_days 90 but protected"
    assert sel["remove"][0] == ident("2025-12-30")
    assert len(sel["keep"]) == len(KNOWN) - 364


def test_buckets_are_utc_days_and_iso_weeks_across_the_year_end():
    backups = [
        {"id": "a", "time": "2026-11-20T23:30:00-02:00", "verified": True},  # 2026-11-21 01:30 UTC
        {"id": "b", "time": "2026-11-21T00:30:00Z", "verified": True},
        {"id": "c", "time": "2026-12-31T10:00:00Z", "verified": True},  # Thursday of 2026-W53
        {"id": "d", "time": "2027-01-03T10:00:00Z", "verified": True},  # Sunday of 2026-W53
        {"id": "e", "time": datetime(2027, 1, 4, 10, tzinfo=UTC), "verified": True},  # 2027-W01
    ]
    sel = gfs_select(backups, {"daily": 5}, now="2027-01-05T00:00:00Z")
    assert sel["reasons"]["a"] == "daily 2026-11-21"
    assert sel["reasons"]["b"] == "not selected by daily 5"
    sel = gfs_select(backups, {"weekly": 3}, now="2027-01-05T00:00:00Z")
    assert sel["reasons"]["d"] == "weekly 2026-W53"
    assert sel["reasons"]["c"] == "not selected by weekly 3"
    assert sel["reasons"]["e"] == "newest verified backup; weekly 2027-W01"
    assert sel["reasons"]["a"] == "weekly 2026-W47"
    sel = gfs_select(backups, {"monthly": 2, "yearly": 2}, now="2027-01-05T00:00:00Z")
    assert sel["reasons"]["d"] == "not selected by monthly 2/yearly 2"
    assert sel["reasons"]["c"] == "monthly 2026-12, yearly 2026"


def test_incremental_chains_keep_their_full():
    backups = [
        {"id": "f1", "time": "2026-09-01T01:00:00Z", "verified": True},
        {"id": "i1", "time": "2026-09-01T07:00:00Z", "verified": True, "depends_on": "f1"},
        {"id": "i2", "time": "2026-09-01T13:00:00Z", "verified": True, "depends_on": "i1"},
        {"id": "f2", "time": "2026-11-01T01:00:00Z", "verified": True},
        {"id": "i3", "time": "2026-11-01T07:00:00Z", "verified": False, "depends_on": "f2"},
    ]
    # i2 is September's pick; its chain (i1, f1) stays
    sel = gfs_select(backups, {"monthly": 2}, now="2026-11-02T00:00:00Z")
    assert sel["keep"] == ["i3", "f2", "i2", "i1", "f1"]
    assert sel["reasons"]["i1"] == "needed by i2"
    assert sel["reasons"]["f1"] == "needed by i1"
    assert sel["reasons"]["i3"] == "newer than the newest verified backup; monthly 2026-11"
    assert sel["protected"] == "f2"
    sel = gfs_select(backups, {"max_age_days": 30}, now="2026-11-02T00:00:00Z")
    assert sel["remove"] == ["i2", "i1", "f1"]


def test_groups_keep_the_full_of_a_kept_incremental():
    fulls = [
        {"id": "f1", "time": "2026-06-01T01:00:00Z", "verified": True},
        {"id": "f2", "time": "2026-11-01T01:00:00Z", "verified": True},
    ]
    incrs = [
        {"id": "i1", "time": "2026-10-20T07:00:00Z", "verified": True, "depends_on": "f1"},
        {"id": "i2", "time": "2026-11-01T07:00:00Z", "verified": True, "depends_on": "f2"},
    ]
    out = select_groups(
        {"full": fulls, "incr": incrs}, {"full": {"max_age_days": 90}, "incr": {"max_age_days": 30}},
        now="2026-11-02T00:00:00Z",
    )
    assert out["full"].keep == ["f2", "f1"] and out["full"].reasons["f1"] == "needed by i1"
    assert out["incr"].keep == ["i2", "i1"]
    out = select_groups(
        {"full": fulls, "incr": incrs}, {"full": {"max_age_days": 90}, "incr": {"daily": 1}},
        now="2026-11-02T00:00:00Z",
    )
    assert out["full"].remove == ["f1"] and out["incr"].remove == ["i1"]
    # a group without policy keeps everything (and so the fulls its members need)
    out = select_groups({"full": fulls, "incr": incrs}, {"full": {"daily": 1}, "incr": None}, now="2026-11-02T00:00:00Z")
    assert out["full"].keep == ["f2", "f1"] and out["incr"].reasons["i1"] == "not rotated (no policy for this kind)"


def test_nothing_verified_removes_nothing_and_unidentified_are_kept():
    backups = daily_calendar(date(2026, 1, 1), date(2026, 3, 1), verified=False)
    backups.append({"id": "odd-dir", "identified": False})
    backups.append({"id": "odd-with-time", "time": "2020-01-01T00:00:00Z", "identified": False, "verified": True})
    sel = gfs_select(backups, {"daily": 1}, now="2026-03-02T00:00:00Z")
    assert sel["remove"] == [] and sel["protected"] is None
    assert sel["reasons"]["odd-dir"] == "unidentified: never removed"
    assert sel["keep"][-2:] == ["odd-with-time", "odd-dir"]  # entries without time last
    assert sel["reasons"][backups[0]["id"]] == "no verified backup: nothing is removed"


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ({}, "would keep nothing"),
        ({"daily": 0, "weekly": None}, "daily is 0"),
        ({"daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}, "daily, weekly, monthly, yearly are 0"),
        ({"max_age_days": 0}, "policy.max_age_days 0"),
        ({"daily": 7, "max_age_days": 0}, "policy.max_age_days 0"),
        ({"daily": -1}, "policy.daily must be an integer >= 0 or null, got -1"),
        ({"weekly": "four"}, "policy.weekly must be an integer >= 0 or null, got 'four'"),
        ({"monthly": 1.5}, "policy.monthly must be an integer >= 0 or null, got 1.5"),
        ({"yearly": True}, "policy.yearly must be an integer >= 0 or null, got True"),
        ({"max_age_days": -30}, "policy.max_age_days must be an integer >= 0 or null, got -30"),
        ({"hourly": 24}, "unknown key 'hourly'"),
        (["daily", 7], "policy must be a mapping"),
    ],
)
def test_bad_policies_are_rejected_naming_the_key(policy, needle):
    with pytest.raises(AnsibleFilterError, match="gfs_select: ") as info:
        gfs_select(KNOWN[:3], policy)
    assert needle in str(info.value)


def test_digit_strings_and_nulls_are_accepted():
    sel = gfs_select(KNOWN, {"daily": "7", "weekly": None}, now=NOW)
    assert len(sel["keep"]) == 7


@pytest.mark.parametrize(
    ("backups", "needle"),
    [
        ("not a list", "backups must be a list"),
        ([{"time": "2026-01-01T00:00:00Z"}], "has no id"),
        ([{"id": "a"}], "backup 'a' has no time"),
        ([{"id": "a", "time": "yesterday"}], "backup 'a': invalid time 'yesterday'"),
        ([{"id": "a", "time": "2026-02-30T00:00:00Z"}], "invalid time"),
        ([{"id": "a", "time": NOW}, {"id": "a", "time": NOW}], "duplicate id 'a'"),
        ([{"id": "a", "time": NOW, "depends_on": 3}], "depends_on must be an id"),
    ],
)
def test_bad_backup_lists_are_rejected(backups, needle):
    with pytest.raises(AnsibleFilterError, match=needle):
        gfs_select(backups, {"daily": 1})


def test_time_formats():
    for value in ("2026-11-26T07:15:00Z", "20261126T071500Z", "2026-11-26 09:15:00+02:00", "2026-11-26T07:15:00",
                  "2026-11-26T07:15:00.123456Z", 1795677300, datetime(2026, 11, 26, 8, 15, tzinfo=timezone(timedelta(hours=1)))):
        assert _gfs.parse_time(value).replace(microsecond=0) == datetime(2026, 11, 26, 7, 15, tzinfo=UTC), value


def test_filter_is_registered():
    assert FilterModule().filters()["gfs_select"] is gfs_select


# ------------------------------------------------------------------ properties over random calendars

POLICY_VALUE = st.one_of(st.none(), st.integers(min_value=0, max_value=12))


@st.composite
def calendars(draw):
    """Random backups over 1-5 years: random times, verified flags, incr chains, unidentified entries."""
    start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 3650)))
    span = timedelta(days=draw(st.integers(365, 5 * 365)))
    seconds = draw(st.lists(st.integers(0, int(span.total_seconds())), min_size=0, max_size=120, unique=True))
    times = sorted(start + timedelta(seconds=s) for s in seconds)
    backups: list[dict] = []
    for index, moment in enumerate(times):
        entry = {"id": f"b{index:03d}", "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "verified": draw(st.integers(0, 3)) > 0}
        if index and draw(st.integers(0, 2)) == 0:  # an incremental of an earlier backup
            entry["depends_on"] = f"b{draw(st.integers(max(0, index - 6), index - 1)):03d}"
        if draw(st.integers(0, 15)) == 0:
            entry["identified"] = False
            if draw(st.booleans()):
                del entry["time"]
        backups.append(entry)
    for entry in backups[len(backups) - draw(st.integers(0, 12)):]:  # the newest ones not verified yet
        entry["verified"] = False
    if draw(st.booleans()) and times:
        draw_id = draw(st.integers(0, len(backups) - 1))
        backups[draw_id]["depends_on"] = "not-in-the-list"
    now = (times[-1] if times else start) + timedelta(hours=draw(st.integers(0, 24 * 400)))
    return backups, now


@st.composite
def policies(draw):
    policy = {key: draw(POLICY_VALUE) for key in _gfs.COUNT_KEYS if draw(st.booleans())}
    if draw(st.booleans()):
        policy["max_age_days"] = draw(st.one_of(st.none(), st.integers(1, 2000)))
    if not any(policy.get(k) for k in _gfs.COUNT_KEYS) and not policy.get("max_age_days"):
        policy[draw(st.sampled_from(_gfs.POLICY_KEYS))] = draw(st.integers(1, 12))  # a policy that keeps something
    return policy


def _time(entry: dict) -> datetime | None:
    return _gfs.parse_time(entry["time"]) if entry.get("time") is not None else None


def reference(backups: list[dict], policy: dict, now: datetime) -> set[str]:
    """An independent, naive statement of the rules: the expected keep set."""
    known = {b["id"]: b for b in backups}
    ident = [b for b in backups if b.get("identified", True)]
    keep = {b["id"] for b in backups if not b.get("identified", True)}
    verified = [b for b in ident if b["verified"]]
    if not verified:
        keep |= {b["id"] for b in ident}
    else:
        newest = max(verified, key=lambda b: (_time(b), [-ord(c) for c in b["id"]]))
        keep |= {b["id"] for b in ident if _time(b) >= _time(newest)}
    young = {b["id"] for b in ident if policy.get("max_age_days") is None or now - _time(b) <= timedelta(days=policy["max_age_days"])}
    labels = {
        "daily": lambda t: t.date(),
        "weekly": lambda t: t.isocalendar()[:2],
        "monthly": lambda t: (t.year, t.month),
        "yearly": lambda t: t.year,
    }
    counts = {k: policy.get(k) for k in _gfs.COUNT_KEYS if policy.get(k)}
    if not counts:
        keep |= young
    for key, count in counts.items():
        buckets: dict = {}
        for b in ident:
            buckets.setdefault(labels[key](_time(b)), []).append(b)
        for bucket in sorted(buckets)[-count:]:
            newest = max(buckets[bucket], key=lambda b: (_time(b), [-ord(c) for c in b["id"]]))
            if newest["id"] in young:
                keep.add(newest["id"])
    changed = True
    while changed:
        changed = False
        for kept in list(keep):
            prior = known[kept].get("depends_on")
            if prior in known and prior not in keep:
                keep.add(prior)
                changed = True
    return keep


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(calendars(), policies())
def test_invariants_over_random_calendars(calendar, policy):
    backups, now = calendar
    sel = gfs_select(backups, policy, now=now)
    ids = [b["id"] for b in backups]
    keep, remove = sel["keep"], sel["remove"]
    # keep and remove partition the input, every id has a reason
    assert sorted(keep + remove) == sorted(ids) and not set(keep) & set(remove)
    assert set(sel["reasons"]) == set(ids)
    by_id = {b["id"]: b for b in backups}
    # unidentified ones are kept
    assert all(i in keep for i in ids if not by_id[i].get("identified", True))
    # the newest verified backup and everything at least as new are kept
    verified = [b for b in backups if b.get("identified", True) and b["verified"]]
    if verified:
        protected = by_id[sel["protected"]]
        assert protected["verified"] and _time(protected) == max(_time(b) for b in verified)
        assert all(b["id"] in keep for b in backups if b.get("identified", True) and _time(b) >= _time(protected))
    else:
        assert sel["protected"] is None and remove == []
    # every kept backup's depends_on chain is kept
    for kept in keep:
        seen = set()
        current = by_id[kept].get("depends_on")
        while current in by_id and current not in seen:
            assert current in keep
            seen.add(current)
            current = by_id[current].get("depends_on")
    # removal reasons are policy reasons only
    assert all(sel["reasons"][i].startswith(("older than max_age_days", "not selected by")) for i in remove)
    # exactly what the naive statement of the rules keeps
    assert set(keep) == reference(backups, policy, now)
    # newest first
    times = [_time(by_id[i]) for i in keep if _time(by_id[i]) is not None]
    assert times == sorted(times, reverse=True)


@PROPERTY_SETTINGS
@given(calendars(), policies(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter_and_rotation_is_stable(calendar, policy, rnd):
    backups, now = calendar
    first = select(backups, policy, now)
    shuffled = list(backups)
    rnd.shuffle(shuffled)
    assert select(shuffled, policy, now).as_dict() == first.as_dict()
    # running the rotation again on what was kept removes nothing more
    remaining = [b for b in backups if b["id"] in set(first.keep)]
    assert select(remaining, policy, now).remove == []


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(_gfs.POLICY_KEYS),
        st.one_of(st.integers(-1000, -1), st.text(max_size=3).filter(lambda s: not s.strip().isdigit()),
                  st.floats(allow_nan=False), st.booleans()),
        min_size=1,
    ),
    st.dictionaries(st.sampled_from(_gfs.COUNT_KEYS), st.just(3)),
)
def test_bad_values_are_rejected_naming_key_and_value(bad, good):
    policy = {**good, **bad}
    with pytest.raises(PolicyError) as info:
        select(KNOWN[:5], policy, NOW)
    message = str(info.value)
    assert any(f"policy.{key} must be an integer >= 0 or null, got {value!r}" == message for key, value in bad.items())


@settings(max_examples=60, deadline=None)
@given(calendars(), st.dictionaries(st.sampled_from(_gfs.COUNT_KEYS), st.sampled_from([0, None])),
       st.sampled_from(["absent", None, 0]))
def test_policies_that_keep_nothing_are_rejected(calendar, counts, max_age):
    policy = dict(counts)
    if max_age != "absent":
        policy["max_age_days"] = max_age
    with pytest.raises(AnsibleFilterError) as info:
        gfs_select(calendar[0], policy, now=calendar[1])
    message = str(info.value)
    if max_age == 0:
        assert "max_age_days 0" in message
    else:
        assert "would keep nothing" in message
        assert all(key in message for key in _gfs.POLICY_KEYS)


def test_large_random_calendar_is_fast():
    rnd = random.Random(4)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    backups = [
        {"id": f"b{n:05d}", "time": start + timedelta(hours=6 * n + rnd.randint(0, 3)), "verified": rnd.random() > 0.1,
         "depends_on": f"b{n - 1:05d}" if n % 4 else None}
        for n in range(4 * 365 * 5)
    ]
    sel = gfs_select(backups, {"daily": 7, "weekly": 4, "monthly": 12, "yearly": 5, "max_age_days": 400},
                     now=start + timedelta(days=5 * 365))
    assert 20 < len(sel["keep"]) < 200
