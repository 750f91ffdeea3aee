"""Import progress that a polling page can see while the import transaction is still open.

The import runs in ONE transaction, so progress written through Django's connection
would stay invisible until the commit. ``JobProgressWriter`` writes the job row's
phase / progress_done / progress_total through a second, autocommit psycopg connection
to the same database (Django has no second alias configured, and the page already reads
the job row, so no cache is involved). Writes are throttled; a write that cannot get the
row lock at once is skipped rather than waited for, so progress can never block the
import. When the side connection cannot be opened, progress is only logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)

# Seconds between two progress writes of the same phase (a polling page asks every ~1 s).
PROGRESS_MIN_INTERVAL = 0.5


class JobProgressWriter:
    """A ProgressFn that writes to ``dataset_importjob`` through an autocommit side connection."""

    def __init__(self, job_id: int, *, min_interval: float = PROGRESS_MIN_INTERVAL) -> None:
        self.job_id = job_id
        self.min_interval = min_interval
        self._last_phase = ""
        self._last_at = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        try:
            self._conn = psycopg.connect(**params, autocommit=True)
            # Never wait for the job row: the import's own transaction may hold it at the very end.
            self._conn.execute("SET lock_timeout = '200ms'")
        except psycopg.Error as exc:
            logger.warning("import %s: progress only logged, no side connection (%s)", job_id, exc)

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        if phase == self._last_phase and not finished and now - self._last_at < self.min_interval:
            return
        self._last_phase, self._last_at = phase, now
        if self._conn is None:
            logger.info("import %s: %s %d/%d", self.job_id, phase, done, total)
            return
        try:
            self._conn.execute(
                "UPDATE dataset_importjob SET phase = %s, progress_done = %s, progress_total = %s WHERE id = %s",
                [phase[:100], done, total, self.job_id],
            )
        except psycopg.errors.LockNotAvailable:
            pass
        except psycopg.Error as exc:
            logger.warning("import %s: progress write failed, only logging from now on (%s)", self.job_id, exc)
            self.close()

    def close(self) -> None:
        """Close the side connection (idempotent)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
