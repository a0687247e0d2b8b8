"""_sizes: the one human-readable size of the collection's messages (modules and opsbook-backup)."""

from __future__ import annotations

from ansible_collections.opsbook.stack.plugins.module_utils._sizes import human_bytes


def test_human_bytes():
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(10) == "10 B"
    assert human_bytes(0) == "0 B"
    assert human_bytes(1024 * 1024) == "1.0 MiB"
    assert human_bytes(-2048) == "-2.0 KiB"
    assert human_bytes(5 * 1024 ** 6) == "5120.0 PiB"
    assert human_bytes(None) == "?"
