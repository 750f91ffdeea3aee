"""Import progress that a polling page can see while the import transaction is still open.

The import runs in ONE transaction, so progress written through Django's connection
would stay invisible until the commit. ``JobProgressWriter`` writes the job row's
phase / progress_done / progress_total through a second, autocommit psycopg connection
to the same database (Django has no second alias configured, and the page already reads
the job row, so no cache is involved). Writes are throttled; a write that cannot get the
row lock at once is skipped rather than waited for, so progress can never block the
import. When the side connection cannot be opened, progress is only logged.

Every write also bumps ``heartbeat_at``, and a small thread bumps it every
``HEARTBEAT_INTERVAL`` whatever the import is doing (waiting for another import, one long
statement): a running job whose heartbeat stopped for ``IMPORT_STALE_AFTER`` lost its
worker and may be re-run (``ImportJob.objects.rerunnable()``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, LiteralString

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)

# Seconds between two progress writes of the same phase (a polling page asks every ~1 s).
PROGRESS_MIN_INTERVAL = 0.5
# Seconds between two heartbeats; far below IMPORT_STALE_AFTER (10 minutes), so a busy
# database that delays a few beats never makes a live job look lost.
HEARTBEAT_INTERVAL = 30.0


class JobProgressWriter:
    """A ProgressFn that writes to ``dataset_importjob`` through an autocommit side connection."""

    def __init__(
        self,
        job_id: int,
        *,
        min_interval: float = PROGRESS_MIN_INTERVAL,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
    ) -> None:
        self.job_id = job_id
        self.min_interval = min_interval
        self._last_phase = ""
        self._last_at = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        # One statement at a time on the side connection: the heartbeat thread shares it.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        try:
            self._conn = psycopg.connect(**params, autocommit=True)
            # Never wait for the job row: the import's own transaction may hold it at the very end.
            self._conn.execute("SET lock_timeout = '200ms'")
        except psycopg.Error as exc:
            logger.warning("import %s: progress only logged, no side connection (%s)", job_id, exc)
            return
        self._heartbeat = threading.Thread(
            target=self._beat, args=(heartbeat_interval,), name=f"import-{job_id}-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        if phase == self._last_phase and not finished and now - self._last_at < self.min_interval:
            return
        self._last_phase, self._last_at = phase, now
        if self._conn is None:
            logger.info("import %s: %s %d/%d", self.job_id, phase, done, total)
            return
        self._write(
            "UPDATE dataset_importjob SET phase = %s, progress_done = %s, progress_total = %s, heartbeat_at = now() "
            "WHERE id = %s",
            [phase[:100], done, total, self.job_id],
        )

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._write("UPDATE dataset_importjob SET heartbeat_at = now() WHERE id = %s", [self.job_id])

    def _write(self, sql: LiteralString, params: list[Any]) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(sql, params)
            except psycopg.errors.LockNotAvailable:
                pass
            except psycopg.Error as exc:
                logger.warning("import %s: progress write failed, only logging from now on (%s)", self.job_id, exc)
                self._stop.set()
                self._close_connection()

    def heartbeat_running(self) -> bool:
        """Whether the heartbeat thread is alive (tests, diagnostics)."""
        return self._heartbeat is not None and self._heartbeat.is_alive()

    def close(self) -> None:
        """Stop the heartbeat and close the side connection (idempotent)."""
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=5)
        with self._lock:
            self._close_connection()

    def _close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
