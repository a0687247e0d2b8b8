# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes for opsbook.stack: readers see the old file or the new one, never half of one.

Also the reading side of the JSON state files the modules keep this way.

Private to the collection. Standard library only and importing nothing else
from the collection: the backup role also installs this file next to the
on-host tool opsbook-backup, which imports it as a top-level module.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """Prefix of the temporary files :func:`atomic_write` leaves while it writes ``path`` (suffix ``.tmp``)."""
    return f".{os.path.basename(os.fspath(path))}."


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    data: str | bytes,
    mode: int = 0o600,
    *,
    uid: int | None = None,
    gid: int | None = None,
    dir_mode: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    The data goes to a temporary file in the same directory, which is flushed
    and fsynced, given ``mode`` (and ``uid``/``gid`` when set) and renamed over
    ``path`` with os.replace; then the directory is fsynced. ``dir_mode``
    creates a missing parent directory with that mode. Text is written as
    UTF-8 with ``\\n`` line ends. The temporary file is removed on any error.
    """
    target = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(target)
    if dir_mode is not None and not os.path.isdir(directory):
        os.makedirs(directory, mode=dir_mode)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if uid is not None or gid is not None:
            os.chown(tmp, -1 if uid is None else uid, -1 if gid is None else gid)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def read_json(path: str | os.PathLike[str], missing: Any) -> tuple[Any, str | None]:
    """A JSON file's content and None; ``missing`` and None when there is no file; None and the reason when unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle), None
    except FileNotFoundError:
        return missing, None
    except (OSError, ValueError) as exc:
        return None, str(exc)
