# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incremental log scanning behind opsbook.stack.log_check (stdlib only).

Private to the collection. Per file the state remembers device, inode, the
offset scanned up to and a hash of the file's first bytes, so that the next
run reads only what was appended, and notices rotation (new inode),
copytruncate / truncation (smaller file or different head) and first runs.
Only complete lines are counted; a trailing partial line is left for the next
run (so a line split across two runs is counted exactly once).
"""

from __future__ import annotations

import collections
import fnmatch
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from ansible_collections.opsbook.stack.plugins.module_utils._atomic import atomic_write, read_json

STATE_VERSION = 1
HEAD_BYTES = 256  # how much of a file's start is hashed to recognise it
BLOCK = 1 << 20
SAMPLE_CHARS = 300
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".Z", ".zip")
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18", b"PK\x03\x04")


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: Any  # compiled re.Pattern


# What varies between two occurrences of the same message: a leading timestamp,
# then ids, addresses, numbers and quoted values anywhere in the line.
_LEADING_TIME = re.compile(
    r"^\W*(\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}"
    r"|\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]?\s*"
)
_VARYING = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r'"[^"]*"' + "|'[^']*'"), "<str>"),
    (re.compile(r"(?<![A-Za-z])[-+]?\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)
SIGNATURE_CHARS = 160


def signature(line: str) -> str:
    """The line with what changes between occurrences of one message replaced by placeholders.

    Lines that differ only in timestamp, ids, addresses, numbers or quoted values
    share a signature, so recurring errors can be counted as one pattern.
    """
    text = _LEADING_TIME.sub("", line, count=1)
    for regex, placeholder in _VARYING:
        text = regex.sub(placeholder, text)
    return text.strip()[:SIGNATURE_CHARS]


class LineMatcher:
    """Counts lines per pattern and keeps the last ``samples`` matching lines of each.

    With ``top`` > 0 it also counts the matching lines per signature (see
    :func:`signature`), for the most frequent recurring messages.
    """

    def __init__(self, patterns: list[Pattern], samples: int, top: int = 0) -> None:
        self.patterns = patterns
        self.counts: dict[str, int] = {pattern.name: 0 for pattern in patterns}
        self.samples: dict[str, collections.deque] = {pattern.name: collections.deque(maxlen=max(0, samples)) for pattern in patterns}
        self.top = max(0, top)
        self.signatures: dict[str, collections.Counter] = {pattern.name: collections.Counter() for pattern in patterns}
        self.examples: dict[str, dict[str, str]] = {pattern.name: {} for pattern in patterns}
        self.lines = 0

    def feed(self, raw: bytes) -> None:
        self.lines += 1
        text = raw.decode("utf-8", "replace").rstrip("\r")
        for pattern in self.patterns:
            if pattern.regex.search(text):
                self.counts[pattern.name] += 1
                if self.samples[pattern.name].maxlen:
                    self.samples[pattern.name].append(text[:SAMPLE_CHARS])
                if self.top:
                    key = signature(text)
                    self.signatures[pattern.name][key] += 1
                    self.examples[pattern.name].setdefault(key, text[:SAMPLE_CHARS])

    def most_common(self, name: str) -> list[dict[str, Any]]:
        """The ``top`` most frequent signatures of a pattern: signature, count and one example line."""
        return [
            {"signature": key, "count": count, "example": self.examples[name][key]}
            for key, count in self.signatures[name].most_common(self.top)
        ]


def _head_hash(handle: Any, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()


def is_compressed(path: str) -> bool:
    if path.endswith(COMPRESSED_SUFFIXES):
        return True
    try:
        with open(path, "rb") as handle:
            start = handle.read(6)
    except OSError:
        return False
    return any(start.startswith(magic) for magic in COMPRESSED_MAGIC)


def scan_region(handle: Any, start: int, end: int, matcher: LineMatcher, *, final: bool, max_bytes: int) -> tuple[int, dict[str, Any]]:
    """Feed the complete lines of bytes [start, end) to ``matcher``.

    Scans at most ``max_bytes`` (the newest ones: an older part is skipped,
    from a line boundary). Returns the offset consumed up to (a trailing
    partial line is not consumed unless ``final`` or it alone exceeds
    ``max_bytes``) and facts for the details.
    """
    info: dict[str, Any] = {"from_offset": start, "skipped_bytes": 0}
    skip_partial = False
    if end - start > max_bytes:
        # Skip the older part; the first line is only counted when it starts at the cut.
        info["skipped_bytes"] = end - max_bytes - start
        start = end - max_bytes
        handle.seek(start - 1)
        skip_partial = handle.read(1) != b"\n"
    handle.seek(start)
    pos = start
    carry = b""
    while pos < end:
        block = handle.read(min(BLOCK, end - pos))
        if not block:
            break
        pos += len(block)
        lines = (carry + block).split(b"\n")
        carry = lines.pop()
        for line in lines:
            if skip_partial:
                skip_partial = False
                continue
            matcher.feed(line)
    consumed = pos - len(carry)
    if carry and (final or len(carry) >= max_bytes):
        if not skip_partial:
            matcher.feed(carry)
        consumed = pos
    info["to_offset"] = consumed
    info["bytes_scanned"] = pos - start
    return consumed, info


def _candidates(path: str) -> list[str]:
    """Files next to ``path`` that may be its rotated predecessor (path.1 first, then by age)."""
    directory, base = os.path.split(path)
    found = []
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return []
    for entry in entries:
        if entry.name != base and entry.name.startswith(base) and entry.name[len(base):len(base) + 1] in (".", "-", "_"):
            try:
                if entry.is_file(follow_symlinks=False):
                    found.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
            except OSError:
                continue
    found.sort(reverse=True)
    names = [name for _mtime, name in found]
    first = f"{path}.1"
    if first in names:
        names.remove(first)
        names.insert(0, first)
    return names


def _find_by_inode(path: str, device: int, inode: int) -> str | None:
    candidates = _candidates(path)
    directory = os.path.dirname(path) or "."
    try:
        candidates += [entry.path for entry in os.scandir(directory) if entry.path not in candidates and entry.path != path]
    except OSError:
        pass
    for candidate in candidates:
        try:
            st = os.stat(candidate, follow_symlinks=False)
        except OSError:
            continue
        if st.st_ino == inode and st.st_dev == device:
            return candidate
    return None


def _find_copy(path: str, prev: dict[str, Any], current_inode: int) -> str | None:
    """The copy copytruncate made: same head bytes, at least as long as what we had read."""
    length = int(prev.get("head_len") or 0)
    if not length:
        return None
    for candidate in _candidates(path)[:8]:
        if candidate.endswith(COMPRESSED_SUFFIXES):
            continue
        try:
            with open(candidate, "rb") as handle:
                st = os.fstat(handle.fileno())
                if st.st_ino == current_inode or st.st_size < int(prev["offset"]):
                    continue
                if _head_hash(handle, length) == prev.get("head_sha256"):
                    return candidate
        except OSError:
            continue
    return None


@dataclass
class FileReport:
    path: str
    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    top: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _finish_old(old_path: str, offset: int, matcher: LineMatcher, max_bytes: int, events: list[str], what: str) -> int:
    """Scan the rest of a rotated file from ``offset``; returns bytes skipped by the cap."""
    if is_compressed(old_path):
        events.append(f"{what} {old_path} is compressed: skipped")
        return 0
    try:
        with open(old_path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            start = offset if offset <= size else 0
            _consumed, info = scan_region(handle, start, size, matcher, final=True, max_bytes=max_bytes)
    except OSError as exc:
        events.append(f"cannot read {what} {old_path}: {exc.strerror or exc}")
        return 0
    events.append(f"finished {what} {old_path} from offset {start} ({info['bytes_scanned']} bytes)")
    return int(info["skipped_bytes"])


def scan_file(
    path: str, prev: dict[str, Any] | None, patterns: list[Pattern], *, max_bytes: int, samples: int, top: int = 0
) -> tuple[FileReport, dict[str, Any] | None]:
    """Scan what ``path`` gained since ``prev`` (its state entry). Returns the report and the new entry."""
    report = FileReport(path)
    matcher = LineMatcher(patterns, samples, top)
    events: list[str] = []
    skipped = 0
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        report.error = f"log file {path} does not exist"
        return report, prev
    except OSError as exc:
        report.error = f"cannot read log file {path}: {exc.strerror or exc}"
        return report, prev
    with handle:
        st = os.fstat(handle.fileno())
        size = st.st_size
        start = 0
        if prev is None:
            events.append("first run for this file: scanned from the start")
        elif (int(prev.get("inode", -1)), int(prev.get("device", -1))) != (st.st_ino, st.st_dev):
            old = _find_by_inode(path, int(prev.get("device", -1)), int(prev.get("inode", -1)))
            if old:
                skipped += _finish_old(old, int(prev.get("offset", 0)), matcher, max_bytes, events, "rotated file")
            else:
                events.append(
                    f"rotated: the previous file (inode {prev.get('inode')}) is gone or compressed; lines it got after the "
                    "last run were not scanned"
                )
            events.append("new file scanned from the start")
        else:
            offset = int(prev.get("offset", 0))
            head_len = int(prev.get("head_len") or 0)
            replaced = size >= offset and head_len and (size < head_len or _head_hash(handle, head_len) != prev.get("head_sha256"))
            if size < offset or replaced:
                copy = _find_copy(path, prev, st.st_ino)
                if copy:
                    skipped += _finish_old(copy, offset, matcher, max_bytes, events, "copy of the truncated file")
                events.append(
                    "truncated (file smaller than the last offset): scanned from the start"
                    if size < offset else "content replaced (start of the file changed): scanned from the start"
                )
            else:
                start = offset
        consumed, info = scan_region(handle, start, size, matcher, final=False, max_bytes=max_bytes)
        skipped += int(info["skipped_bytes"])
        head_len = min(consumed, HEAD_BYTES)
        entry = {
            "device": st.st_dev,
            "inode": st.st_ino,
            "offset": consumed,
            "head_len": head_len,
            "head_sha256": _head_hash(handle, head_len) if head_len else "",
        }
    if skipped:
        events.append(f"capped at max_bytes {max_bytes}: {skipped} older bytes were not scanned")
    report.counts = dict(matcher.counts)
    report.samples = {name: list(lines) for name, lines in matcher.samples.items()}
    if matcher.top:
        report.top = {pattern.name: matcher.most_common(pattern.name) for pattern in patterns}
    report.details = {
        "path": path,
        "from_offset": info["from_offset"],
        "to_offset": consumed,
        "size_bytes": size,
        "bytes_scanned": info["bytes_scanned"],
        "lines_scanned": matcher.lines,
        "capped": bool(skipped),
        "skipped_bytes": skipped,
        "events": events,
    }
    return report, entry


# ---------------------------------------------------------------- files and state


def expand(files: Iterable[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    """(instance name, absolute path or None, error) per configured file / glob match."""
    out: list[tuple[str, str | None, str | None]] = []
    for spec in files:
        pattern = os.path.abspath(os.path.expanduser(spec["path"]))
        name = spec.get("name")
        if glob.has_magic(pattern):
            matches = sorted(
                match for match in glob.glob(pattern) if os.path.isfile(match) and not match.endswith(COMPRESSED_SUFFIXES)
            )
            if not matches:
                out.append((name or os.path.basename(pattern), None, f"log file {spec['path']} does not exist (no file matches)"))
            for match in matches:
                base = os.path.basename(match)
                out.append((f"{name}/{base}" if name else base, match, None))
        else:
            out.append((name or os.path.basename(pattern), pattern, None))
    # Two files with the same instance name (same basename in two dirs): use their paths.
    seen = collections.Counter(instance for instance, _path, _err in out)
    return [(path if seen[instance] > 1 and path else instance, path, err) for instance, path, err in out]


def load_state(path: str) -> tuple[dict[str, Any], str | None]:
    """The state file's ``files`` mapping and a warning when it was unusable."""
    data, error = read_json(path, {"files": {}})
    if error:
        return {}, f"state file {path} is unreadable ({error}); every file is scanned as on a first run"
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {}, f"state file {path} has an unexpected layout; every file is scanned as on a first run"
    files = {}
    bad = []
    for name, entry in data["files"].items():
        if isinstance(entry, dict) and all(isinstance(entry.get(key), int) for key in ("device", "inode", "offset", "head_len")):
            files[name] = entry
        else:
            bad.append(name)
    if bad:
        return files, f"state file {path}: ignored malformed entries for {', '.join(sorted(bad))} (scanned as on a first run)"
    return files, None


def state_document(files: dict[str, Any]) -> dict[str, Any]:
    return {"version": STATE_VERSION, "files": files}


def prune(files: dict[str, Any], globs: list[str]) -> dict[str, Any]:
    """Drop entries of files that matched one of this run's globs and no longer exist."""
    out = {}
    for path, entry in files.items():
        if not os.path.exists(path) and any(fnmatch.fnmatch(path, pattern) for pattern in globs):
            continue
        out[path] = entry
    return out


def write_state(path: str, files: dict[str, Any]) -> None:
    """Atomically write the state (directory 0700 when created, file 0600)."""
    atomic_write(path, json.dumps(state_document(files), indent=1, sort_keys=True) + "\n", 0o600, dir_mode=0o700)


def compile_pattern(name: str, regex: str) -> Pattern:
    """Raises ValueError naming the pattern when the regex is invalid."""
    try:
        return Pattern(name, re.compile(regex))
    except re.error as exc:
        raise ValueError(f"pattern {name!r}: invalid regex {regex!r}: {exc}") from None
