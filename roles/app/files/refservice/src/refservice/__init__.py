"""opsbook reference service: FastAPI web app, ingest scheduler and migrations."""

__version__ = "0.1.0"
