"""``refservice-migrate``: create or upgrade the schema (idempotent)."""

from __future__ import annotations

import sys

from .config import ConfigError, Settings


def main() -> int:
    """Apply pending migrations and print the resulting schema version."""
    from . import store  # imported here so ``--help``-less config errors stay cheap

    try:
        settings = Settings.from_env()
        with store.connect(settings) as conn:
            version, applied = store.migrate(conn)
    except ConfigError as exc:
        print(f"refservice-migrate: configuration error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"refservice-migrate: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if applied:
        print(f"schema at version {version} (applied {', '.join(map(str, applied))})")
    else:
        print(f"schema at version {version} (up to date)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
