"""_timestamps: the one ISO-8601 parser and format of the collection (modules, filters, callback, opsbook-backup)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import (
    format_compact,
    format_utc,
    parse_iso8601,
    parse_utc,
    utc_now,
)

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:30:00Z", datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:00.123Z", datetime.datetime(2024, 5, 1, 12, 30, 0, 123000, tzinfo=UTC)),
        ("2024-05-01T12:30:00.123456789+00:00", datetime.datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T14:30:00+0200", datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T07:30:00-05", datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01 12:30:00", datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30", datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01", datetime.datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_iso8601(text, expected):
    parsed = parse_utc(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "2024-05-01T25:00:00", "2024-05-01T12:00:00+25:00", "1714560000"])
def test_parse_iso8601_rejects(text):
    with pytest.raises(ValueError):
        parse_utc(text)


def test_parse_utc_variants_and_iso():
    assert parse_utc("2026-10-26T06:00:00Z") == datetime.datetime(2026, 10, 26, 6, tzinfo=UTC)
    assert parse_utc("2026-10-26T08:00:00+02:00") == datetime.datetime(2026, 10, 26, 6, tzinfo=UTC)
    assert parse_utc("2026-10-26 06:00:00") == datetime.datetime(2026, 10, 26, 6, tzinfo=UTC)
    assert format_utc(datetime.datetime(2026, 10, 26, 8, 0, 0, 999, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))) == "2026-10-26T06:00:00Z"
    for bad in ("", "yesterday", None, 5):
        with pytest.raises(ValueError, match="ISO-8601"):
            parse_utc(bad)


def test_basic_format_and_epoch_seconds():
    assert parse_utc("20261126T071500Z") == datetime.datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    assert parse_utc("20261126T091500+0200") == datetime.datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    assert parse_utc(1795677300, epoch=True) == datetime.datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_utc(1795677300)
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_utc(True, epoch=True)


def test_naive_stays_naive_until_utc_is_asked_for():
    assert parse_iso8601("2026-11-26T03:00").tzinfo is None
    assert parse_iso8601("2026-11-26T03:00+01:00").utcoffset() == datetime.timedelta(hours=1)
    assert parse_utc(datetime.datetime(2026, 11, 26, 3)) == datetime.datetime(2026, 11, 26, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match="baseline.at must be an ISO-8601"):
        parse_iso8601("last month", "baseline.at")


def test_formats_are_utc_whole_seconds():
    moment = datetime.datetime(2026, 11, 26, 8, 15, 0, 999999, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert format_utc(moment) == "2026-11-26T07:15:00Z"
    assert format_compact(moment) == "20261126T071500Z"
    assert format_utc(datetime.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"
    assert format_utc(None) is None
    assert parse_utc(format_utc(moment)) == moment.replace(microsecond=0)
    assert parse_utc(format_compact(moment)) == moment.replace(microsecond=0)
    assert utc_now().tzinfo is UTC
