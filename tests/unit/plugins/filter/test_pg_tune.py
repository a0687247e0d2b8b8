"""Unit tests for the opsbook.stack.pg_tune filter (pure function, no Ansible run)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.filter.pg_tune import FilterModule, pg_tune


def mb(value: str) -> int:
    assert value.endswith("MB"), value
    return int(value[:-2])


def test_registered_in_filter_module() -> None:
    assert FilterModule().filters()["pg_tune"] is pg_tune


def test_4gb_100_connections() -> None:
    assert pg_tune(4096, 100) == {
        "shared_buffers": "1024MB",
        "effective_cache_size": "3072MB",
        "maintenance_work_mem": "256MB",
        "work_mem": "10MB",
    }


def test_default_max_connections_is_100() -> None:
    assert pg_tune(4096) == pg_tune(4096, 100)


def test_tiny_host_gets_minimums() -> None:
    result = pg_tune(256, 100)
    assert mb(result["shared_buffers"]) == 128
    assert mb(result["effective_cache_size"]) == 256
    assert mb(result["maintenance_work_mem"]) == 64
    assert mb(result["work_mem"]) == 4


def test_big_host_is_capped() -> None:
    result = pg_tune(256 * 1024, 100)
    assert mb(result["shared_buffers"]) == 8192
    assert mb(result["effective_cache_size"]) == 196608
    assert mb(result["maintenance_work_mem"]) == 2048
    assert mb(result["work_mem"]) == 256


def test_work_mem_shrinks_with_connections() -> None:
    few = mb(pg_tune(16384, 50)["work_mem"])
    many = mb(pg_tune(16384, 500)["work_mem"])
    assert few > many >= 4
    # (16384 - 4096) / (500 * 3) = 8.19 -> 8
    assert many == 8


@pytest.mark.parametrize("ram", [512, 1024, 2048, 8192, 32768, 65536, 1048576])
def test_invariants(ram: int) -> None:
    result = pg_tune(ram, 200)
    assert set(result) == {"shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem"}
    assert mb(result["effective_cache_size"]) >= mb(result["shared_buffers"])
    assert mb(result["shared_buffers"]) <= max(ram // 4, 128)
    assert 64 <= mb(result["maintenance_work_mem"]) <= 2048
    assert 4 <= mb(result["work_mem"]) <= 256


def test_accepts_numeric_strings_and_whole_floats() -> None:
    assert pg_tune("4096", "100") == pg_tune(4096, 100)
    assert pg_tune(4096.0, 100) == pg_tune(4096, 100)


@pytest.mark.parametrize(
    "ram, conns, fragment",
    [
        (0, 100, "total RAM"),
        (-1, 100, "total RAM"),
        ("lots", 100, "total RAM"),
        (True, 100, "total RAM"),
        (None, 100, "total RAM"),
        (1.5, 100, "total RAM"),
        (4096, 0, "max_connections"),
        (4096, "many", "max_connections"),
        (4096, [100], "max_connections"),
    ],
)
def test_rejects_bad_input(ram: object, conns: object, fragment: str) -> None:
    with pytest.raises(AnsibleFilterError, match=fragment):
        pg_tune(ram, conns)
