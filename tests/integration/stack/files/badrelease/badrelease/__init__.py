"""A broken release used by the rollback test."""
