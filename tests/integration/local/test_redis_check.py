"""opsbook.stack.redis_check through ansible-playbook on localhost: bad input and a missing redis-py."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import LOCAL_PLAY, PYTHON, ansible_playbook


# -- end to end through ansible on this machine (no redis-py here) ----------------

PLAY = LOCAL_PLAY + """\
    - name: Unknown check name
      opsbook.stack.redis_check:
        checks: [ping, memroy]
      register: bad_name
      ignore_errors: true
    - name: Without redis-py
      opsbook.stack.redis_check:
        login_password: Hunter2-not-echoed
      register: no_lib
      ignore_errors: true
"""


def test_end_to_end_bad_input_and_missing_library(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAY.format(python=PYTHON))
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), cwd=tmp_path, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    assert run.returncode == 0, run.stdout + run.stderr
    tasks = json.JSONDecoder().raw_decode(run.stdout)[0]["plays"][0]["tasks"]
    bad_name, no_lib = (t["hosts"]["localhost"] for t in tasks)
    assert bad_name["failed"] is True
    assert "unknown check name(s) 'memroy'; known checks: ping, memory" in bad_name["msg"]
    try:
        import redis  # noqa: F401
    except ImportError:
        assert no_lib["failed"] is True
        assert "install python3-redis on this host" in no_lib["msg"]
        assert "redis (redis-py)" in no_lib["msg"]
    else:  # pragma: no cover - redis-py present in this venv: the module ran and the default user has no password
        assert "checks" in no_lib
    assert "Hunter2" not in run.stdout + run.stderr
