"""opsbook.stack.log_check: incremental scanning, rotation, truncation, state, contract."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.opsbook.stack.plugins.module_utils import _logscan
from ansible_collections.opsbook.stack.plugins.module_utils._checks import CHECK_ID_RE, ThresholdError
from ansible_collections.opsbook.stack.plugins.modules import log_check


def params(tmp_path: Path, files, **extra):
    base = {
        "checks": None,
        "thresholds": {},
        "files": [{"path": str(path), "name": None} if not isinstance(path, dict) else path for path in files],
        "patterns": None,
        "state_file": str(tmp_path / "state" / "log_check.json"),
        "max_bytes": 52428800,
        "samples": 3,
        "top": 0,
    }
    base.update(extra)
    return base


def by_id(results):
    return {item.check: item for item in results}


def run(p, check_mode=False):
    results, changed, warnings = log_check.run(p, check_mode)
    for item in results:
        assert CHECK_ID_RE.match(item.check)
    return by_id(results), changed, warnings


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


# ------------------------------------------------------------------ basic runs


def test_first_run_counts_then_only_new_lines(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("start\nERROR one\nrate limit reached\nok\nTraceback (most recent call last)\n")
    res, changed, _warnings = run(params(tmp_path, [log]))
    assert changed
    errors = res["log.errors:app.log"]
    assert (errors.status, errors.value, errors.unit) == ("warn", 2, "lines")
    assert "first run" in errors.details["events"][0]
    assert errors.details["samples"] == ["ERROR one", "Traceback (most recent call last)"]
    assert res["log.rate_limit:app.log"].value == 1
    assert errors.message.startswith("2 new lines in app.log matched errors since the last run (warn >= 1 lines")
    state = json.loads((tmp_path / "state" / "log_check.json").read_text())
    assert state["files"][str(log)]["offset"] == log.stat().st_size
    # nothing new: ok, zero, state unchanged
    res, changed, _warnings = run(params(tmp_path, [log]))
    assert not changed
    assert res["log.errors:app.log"].status == "ok" and res["log.errors:app.log"].value == 0
    append(log, "fine\n" + "FATAL boom\n" * 12)
    res, changed, _warnings = run(params(tmp_path, [log]))
    assert changed and res["log.errors:app.log"].value == 12 and res["log.errors:app.log"].status == "crit"


def test_state_file_and_dir_modes(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("x\n")
    run(params(tmp_path, [log]))
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state" / "log_check.json").stat().st_mode & 0o777 == 0o600


def test_missing_file_and_empty_glob_are_unknown(tmp_path):
    res, changed, _warnings = run(params(tmp_path, [tmp_path / "nope.log", tmp_path / "dir*" / "*.log"]))
    missing = res["log.errors:nope.log"]
    assert missing.status == "unknown" and missing.message == f"log file {tmp_path / 'nope.log'} does not exist"
    assert res["log.errors:*.log"].status == "unknown"
    assert "does not exist" in res["log.errors:*.log"].message
    assert not changed
    assert not (tmp_path / "state").exists()


def test_check_mode_reports_changed_but_writes_nothing(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR a\n")
    res, changed, _warnings = run(params(tmp_path, [log]), check_mode=True)
    assert changed and res["log.errors:app.log"].value == 1
    assert not (tmp_path / "state").exists()
    # real run, then check mode with nothing new -> not changed
    run(params(tmp_path, [log]))
    before = (tmp_path / "state" / "log_check.json").read_bytes()
    res, changed, _warnings = run(params(tmp_path, [log]), check_mode=True)
    assert not changed and res["log.errors:app.log"].value == 0
    append(log, "ERROR b\n")
    res, changed, _warnings = run(params(tmp_path, [log]), check_mode=True)
    assert changed and res["log.errors:app.log"].value == 1
    assert (tmp_path / "state" / "log_check.json").read_bytes() == before
    # the same line is reported again by the next real run
    res, _changed, _warnings = run(params(tmp_path, [log]))
    assert res["log.errors:app.log"].value == 1


def test_partial_line_waits_for_its_end(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ok\nERR")
    res, _changed, _warnings = run(params(tmp_path, [log]))
    assert res["log.errors:app.log"].value == 0
    append(log, "OR split across runs\n")
    res, _changed, _warnings = run(params(tmp_path, [log]))
    assert res["log.errors:app.log"].value == 1
    assert res["log.errors:app.log"].details["samples"] == ["ERROR split across runs"]


# ------------------------------------------------------------------ rotation / truncation


def test_rotation_rename_finishes_old_file_then_new(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR before\n")
    run(params(tmp_path, [log]))
    append(log, "ERROR after last run, before rotation\n")
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("ERROR in the new file\nplain\n")
    res, changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert changed and item.value == 2
    assert any("finished rotated file" in event and "app.log.1" in event for event in item.details["events"])
    res, changed, _warnings = run(params(tmp_path, [log]))
    assert res["log.errors:app.log"].value == 0 and not changed


def test_rotation_old_file_found_by_inode_under_other_name(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("x\n")
    run(params(tmp_path, [log]))
    append(log, "ERROR late\n")
    os.rename(log, tmp_path / "app.log-20250101")
    log.write_text("")
    res, _changed, _warnings = run(params(tmp_path, [log]))
    assert res["log.errors:app.log"].value == 1
    assert "app.log-20250101" in " ".join(res["log.errors:app.log"].details["events"])


def test_rotation_with_compressed_old_file_is_skipped_gracefully(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR old\n")
    run(params(tmp_path, [log]))
    append(log, "ERROR lost in the compressed file\n")
    # logrotate "create" + "compress": rename, new file, then the old one is gzipped and removed
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("ERROR new\n")
    with open(tmp_path / "app.log.1", "rb") as src, gzip.open(tmp_path / "app.log.1.gz", "wb") as dst:
        dst.write(src.read())
    (tmp_path / "app.log.1").unlink()
    res, changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert item.status == "warn" and item.value == 1 and changed
    assert any("gone or compressed" in event for event in item.details["events"])


def test_rotated_file_compressed_but_still_found_by_inode_is_skipped(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("x\n")
    run(params(tmp_path, [log]))
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("ERROR new\n")
    (tmp_path / "app.log.1").write_bytes(gzip.compress(b"ERROR hidden\n"))  # same inode, compressed in place
    res, _changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert item.value == 1
    assert any("is compressed: skipped" in event for event in item.details["events"])


def test_inode_reused_after_delete_is_seen_as_new_content(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR old\n")
    run(params(tmp_path, [log]))
    log.unlink()
    log.write_text("ERROR new\n")  # the filesystem may hand out the same inode again
    res, _changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert item.value == 1 and item.details["events"]


def test_copytruncate_finishes_the_copy(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("2025-01-01 start of the log\nERROR one\n")
    run(params(tmp_path, [log]))
    append(log, "ERROR two, written before the copy\n")
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())  # copytruncate: copy, then truncate in place
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, "ERROR three after truncation\n")
    res, _changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert item.value == 2
    events = " ".join(item.details["events"])
    assert "copy of the truncated file" in events and "truncated" in events


def test_truncation_without_copy_scans_from_start(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR one\n" * 5)
    run(params(tmp_path, [log]))
    log.write_text("ERROR fresh\n")  # same inode, smaller
    res, _changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert item.value == 1
    assert any("truncated" in event for event in item.details["events"])


def test_replaced_content_with_larger_size_is_detected(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("first line A\nERROR x\n")
    run(params(tmp_path, [log]))
    with open(log, "r+b") as handle:  # truncated and regrown past the old offset between two runs
        handle.truncate(0)
        handle.write(b"other first line\nERROR y\nERROR z\nmore text to get past the old offset\n")
    res, _changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:app.log"]
    assert item.value == 2
    assert any("content replaced" in event for event in item.details["events"])


# ------------------------------------------------------------------ globs, caps, samples, options


def test_glob_each_match_its_own_instance_and_prune(tmp_path):
    for name, text in (("a.log", "ERROR a\n"), ("b.log", "ok\n"), ("c.log.gz", "ERROR\n")):
        (tmp_path / name).write_text(text)
    glob_path = str(tmp_path / "*.log*")
    res, _changed, _warnings = run(params(tmp_path, [{"path": glob_path, "name": "svc"}]))
    assert set(res) == {"log.errors:svc/a.log", "log.rate_limit:svc/a.log", "log.errors:svc/b.log", "log.rate_limit:svc/b.log"}
    assert res["log.errors:svc/a.log"].value == 1 and res["log.errors:svc/b.log"].value == 0
    (tmp_path / "a.log").unlink()
    res, changed, _warnings = run(params(tmp_path, [{"path": glob_path, "name": "svc"}]))
    assert changed and set(res) == {"log.errors:svc/b.log", "log.rate_limit:svc/b.log"}
    state = json.loads((tmp_path / "state" / "log_check.json").read_text())["files"]
    assert list(state) == [str(tmp_path / "b.log")]


def test_max_bytes_cap_scans_newest_bytes_only(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR old\n" * 100 + "ERROR new\n" * 3)
    res, _changed, _warnings = run(params(tmp_path, [log], max_bytes=35))
    item = res["log.errors:app.log"]
    # 35 bytes from the end: a partial line (skipped) and the three "ERROR new" lines
    assert item.value == 3
    assert item.details["capped"] and item.details["skipped_bytes"] == log.stat().st_size - 35
    assert any("capped at max_bytes 35" in event for event in item.details["events"])
    assert item.details["to_offset"] == log.stat().st_size


def test_samples_are_trimmed_and_limited(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(f"ERROR {i} " + "x" * 400 + "\n" for i in range(5)))
    res, _changed, _warnings = run(params(tmp_path, [log], samples=2))
    samples = res["log.errors:app.log"].details["samples"]
    assert len(samples) == 2 and all(len(line) == 300 for line in samples)
    assert samples[0].startswith("ERROR 3") and samples[1].startswith("ERROR 4")
    res, _changed, _warnings = run(params(tmp_path, [tmp_path / "app.log"], samples=0, state_file=str(tmp_path / "other.json")))
    assert res["log.errors:app.log"].details["samples"] == []


def test_custom_patterns_thresholds_and_checks(tmp_path):
    log = tmp_path / "pg.log"
    log.write_text("ERROR: deadlock detected\nERROR: deadlock detected\nLOG: fine\n")
    p = params(
        tmp_path, [{"path": str(log), "name": "pg"}],
        patterns=[{"name": "deadlock", "regex": "deadlock detected", "warn": 1, "crit": 2},
                  {"name": "errors", "regex": "ERROR:", "warn": 5, "crit": None}],
        thresholds={"errors": {"warn": 1}},
        checks=["errors"],
    )
    res, _changed, _warnings = run(p)
    assert list(res) == ["log.errors:pg"]
    assert res["log.errors:pg"].status == "warn" and res["log.errors:pg"].crit is None


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"patterns": [{"name": "x", "regex": "(", "warn": 1, "crit": None}]}, "pattern 'x': invalid regex"),
        ({"patterns": [{"name": "Bad-Name", "regex": "a", "warn": 1, "crit": None}]}, "pattern name 'Bad-Name'"),
        ({"patterns": [{"name": "x", "regex": "a", "warn": 5, "crit": 2}]}, "threshold 'x': warn 5 is beyond crit 2"),
        ({"thresholds": {"nosuch": {"warn": 1}}}, "unknown threshold 'nosuch'"),
        ({"thresholds": {"errors": {"warn": 20}}}, "threshold 'errors': warn 20 is beyond crit 10"),
        ({"checks": ["errors", "bogus"]}, "unknown check name(s) 'bogus'"),
        ({"max_bytes": 0}, "max_bytes must be at least 1"),
        ({"samples": -1}, "samples must be 0 or more"),
    ],
)
def test_bad_options_name_the_culprit(tmp_path, extra, needle):
    log = tmp_path / "a.log"
    log.write_text("x\n")
    with pytest.raises((ValueError, ThresholdError)) as info:
        log_check.run(params(tmp_path, [log], **extra), False)
    assert needle in str(info.value)


def test_corrupt_state_file_warns_and_rescans(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR a\n")
    state = tmp_path / "state" / "log_check.json"
    state.parent.mkdir()
    state.write_text("{not json")
    res, changed, warnings = run(params(tmp_path, [log]))
    assert changed and res["log.errors:app.log"].value == 1
    assert warnings and "unreadable" in warnings[0]
    assert json.loads(state.read_text())["version"] == 1


def test_unreadable_file_is_unknown(tmp_path):
    log = tmp_path / "secret.log"
    if os.geteuid() == 0:
        log.mkdir()  # root reads everything; a directory cannot be read as a log either
    else:
        log.write_text("ERROR\n")
        log.chmod(0)
    res, changed, _warnings = run(params(tmp_path, [log]))
    item = res["log.errors:secret.log"]
    assert item.status == "unknown" and item.message.startswith(f"cannot read log file {log}")
    assert not changed


# ------------------------------------------------------------------ properties

LINES = st.lists(
    st.tuples(st.booleans(), st.text(alphabet="abc xyz:.-", min_size=0, max_size=30)),
    min_size=0,
    max_size=40,
)


def _content(lines):
    return "".join(("ERROR " if bad else "") + text + "\n" for bad, text in lines).encode()


def _expected(lines):
    return sum(1 for bad, _text in lines if bad)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6), max_bytes=st.sampled_from([7, 64, 10**6]))
def test_split_appends_never_lose_or_double_count(tmp_path_factory, lines, cuts, max_bytes):
    """Appending the content in pieces cut at arbitrary bytes, with a run after each piece, counts every line once."""
    tmp = tmp_path_factory.mktemp("prop")
    log = tmp / "app.log"
    log.write_bytes(b"")
    data = _content(lines)
    points = sorted({min(cut, len(data)) for cut in cuts} | {len(data)})
    p = params(tmp, [log], max_bytes=10**6)
    total = 0
    previous = 0
    run(p)
    for point in points:
        with open(log, "ab") as handle:
            handle.write(data[previous:point])
        previous = point
        res, _changed, _warnings = run(p)
        total += res["log.errors:app.log"].value
    assert total == _expected(lines)
    # a cap can only drop lines, never invent or double-count them
    p_capped = params(tmp, [log], max_bytes=max_bytes, state_file=str(tmp / "capped.json"))
    res, _changed, _warnings = run(p_capped)
    assert res["log.errors:app.log"].value <= _expected(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=LINES, late=LINES, after=LINES)
def test_rename_rotation_counts_each_line_once(tmp_path_factory, before, late, after):
    tmp = tmp_path_factory.mktemp("rot")
    log = tmp / "app.log"
    log.write_bytes(_content(before))
    p = params(tmp, [log])
    first, _changed, _warnings = run(p)
    with open(log, "ab") as handle:
        handle.write(_content(late))
    os.rename(log, tmp / "app.log.1")
    log.write_bytes(_content(after))
    second, _changed, _warnings = run(p)
    assert first["log.errors:app.log"].value + second["log.errors:app.log"].value == _expected(before + late + after)


@given(chunk=st.binary(max_size=200))
def test_scan_region_consumes_only_complete_lines(chunk):
    import io

    matcher = _logscan.LineMatcher([_logscan.compile_pattern("any", ".")], 0)
    consumed, info = _logscan.scan_region(io.BytesIO(chunk), 0, len(chunk), matcher, final=False, max_bytes=10**6)
    assert consumed == chunk.rfind(b"\n") + 1
    assert matcher.lines == chunk.count(b"\n")
    assert info["bytes_scanned"] == len(chunk)


def test_malformed_state_entry_is_ignored_with_a_warning(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR a\n")
    state = tmp_path / "state" / "log_check.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"version": 1, "files": {str(log): {"offset": "x"}, "/other.log": {"device": 1, "inode": 2, "offset": 3, "head_len": 0}}}))
    res, changed, warnings = run(params(tmp_path, [log]))
    assert res["log.errors:app.log"].value == 1 and changed
    assert str(log) in warnings[0]
    assert "/other.log" in json.loads(state.read_text())["files"]  # other tasks' entries are kept


# ------------------------------------------------------- per-file patterns


def test_each_file_can_carry_its_own_patterns(tmp_path):
    """One call scans an app log with the default patterns and an nginx log with its own."""
    app = tmp_path / "app.log"
    nginx = tmp_path / "error.log"
    app.write_text("2026-11-26 INFO fine\n2026-11-26 ERROR broken\n[error] not an app error marker\n")
    nginx.write_text("2026/11/26 [error] 12#12: upstream timed out\nERROR is not nginx syntax\n"
                     "2026/11/26 [error] 12#12: limiting requests, excess: 5\n")
    nginx_patterns = [
        {"name": "errors", "regex": r"\[(error|crit|alert|emerg)\]", "warn": 1, "crit": 2},
        {"name": "nginx_limits", "regex": "limiting requests", "warn": 5, "crit": None},
    ]
    files = [{"path": str(app), "name": "app"}, {"path": str(nginx), "name": "nginx", "patterns": nginx_patterns}]
    results, _changed, _warnings = run(params(tmp_path, files))
    assert results["log.errors:app"].value == 1
    assert results["log.rate_limit:app"].value == 0
    assert results["log.errors:nginx"].value == 2
    assert results["log.errors:nginx"].status == "crit"
    assert results["log.nginx_limits:nginx"].value == 1
    assert results["log.nginx_limits:nginx"].status == "ok"
    assert "log.rate_limit:nginx" not in results


def test_thresholds_and_checks_reach_per_file_patterns(tmp_path):
    nginx = tmp_path / "error.log"
    nginx.write_text("[error] a\n[error] b\n")
    files = [{"path": str(nginx), "name": "nginx",
              "patterns": [{"name": "errors", "regex": r"\[error\]", "warn": 1, "crit": None}]}]
    results, _c, _w = run(params(tmp_path, files, thresholds={"errors": {"warn": 5}}, checks=["errors"]))
    assert results["log.errors:nginx"].status == "ok"
    with pytest.raises(ValueError, match="nosuch"):
        run(params(tmp_path, files, checks=["nosuch"]))
    with pytest.raises(ValueError, match="must not be empty"):
        run(params(tmp_path, [{"path": str(nginx), "name": "n", "patterns": []}]))


# ------------------------------------------------------------------ recurring messages (top)


def test_signature_merges_lines_that_differ_only_in_varying_parts():
    a = _logscan.signature("2026-11-20 10:00:01,123 ERROR job 4711 failed for 10.0.0.7:5432 after 3.5 s (id 8f14e45f-ceea-467a-9af0-0a8e1c1b2d3e)")
    b = _logscan.signature("2026-11-21T22:13:09Z ERROR job 12 failed for 10.0.0.9:5432 after 12 s (id 0c4b2f19-5d36-4a6c-8f3e-7a9b1d2c3e4f)")
    assert a == b == "ERROR job <n> failed for <ip> after <n> s (id <uuid>)"
    nginx = _logscan.signature('2026/11/20 10:00:01 [error] 31#31: *7 limiting requests, excess: 5.120 by zone "api", client: 172.30.50.1')
    assert nginx == "[error] <n>#<n>: *<n> limiting requests, excess: <n> by zone <str>, client: <ip>"
    assert _logscan.signature("ERROR disk full") != _logscan.signature("ERROR db timeout")


def test_top_counts_recurring_messages_across_rotation(tmp_path):
    log = tmp_path / "app.log"
    lines = [f"2026-11-2{day} 10:0{i}:00 ERROR db timeout after {i * 7} ms\n" for day in range(1, 4) for i in range(4)]
    lines += ["2026-11-22 11:00:00 ERROR disk full on /srv\n"] * 2 + ["2026-11-22 12:00:00 INFO fine\n"]
    log.write_text("".join(lines[:8]))
    state = tmp_path / "weekly.json"
    run(params(tmp_path, [log], state_file=str(state), top=2))
    # A week later: the file was rotated (renamed to .1) and a new one started.
    append(log, "".join(lines[8:12]))
    log.rename(tmp_path / "app.log.1")
    (tmp_path / "app.log").write_text("".join(lines[12:]))
    res, _changed, _warnings = run(params(tmp_path, [log], state_file=str(state), top=2))
    errors = res["log.errors:app.log"]
    assert errors.value == 6
    top = errors.details["top"]
    assert [(item["signature"], item["count"]) for item in top] == [
        ("ERROR db timeout after <n> ms", 4),
        ("ERROR disk full on /srv", 2),
    ]
    assert top[0]["example"].startswith("2026-11-23 10:00:00 ERROR db timeout")
    assert "most frequent (4x): ERROR db timeout after <n> ms" in errors.message
    assert "top" not in run(params(tmp_path, [log], state_file=str(tmp_path / "other.json")))[0]["log.errors:app.log"].details


def test_negative_top_is_refused(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("x\n")
    with pytest.raises(ValueError, match="top must be 0 or more, got -1"):
        log_check.run(params(tmp_path, [log], top=-1), False)


def test_default_rate_limit_counts_http_429_not_timestamp_digits(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(
        "2026-11-26 08:26:38,429 INFO refservice.web [1584] web worker started\n"  # milliseconds, not a status
        "job 4290 done in 429 ms\n"
        '172.30.50.1 - - [26/Nov/2026:08:26:38 +0000] "GET /api HTTP/1.1" 429 17 "-" "curl"\n'
        "2026-11-26 08:27:00,001 WARNING upstream answered status=429\n"
        "2026-11-26 08:27:01,002 WARNING 429 Too Many Requests from the ingest API\n"
    )
    res, _changed, _warnings = run(params(tmp_path, [log]))
    limited = res["log.rate_limit:app.log"]
    assert limited.value == 3, limited.details["samples"]
    assert all("429" in line and "worker started" not in line for line in limited.details["samples"])
