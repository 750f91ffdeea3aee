"""Celery task that makes the thumbnails of every image, one bounded batch at a time.

Imported by ``annotator.cleaning.tasks`` so that workers register it. The work lives in
``annotator.cleaning.thumbnails``; the task only runs one batch and re-queues itself with
the next cursor, so a worker is never held for long and a lost worker costs one batch
(``acks_late``: the batch is delivered again and finds its finished thumbnails in place).
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from annotator.cleaning.thumbnails import THUMBNAIL_BATCH, thumbnails_run_start, thumbnails_run_step


@shared_task(
    name="annotator.cleaning.tasks.thumbnails_make",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    max_retries=5,
)
def thumbnails_make(run: str, after_id: int = 0, limit: int = THUMBNAIL_BATCH) -> None:
    """Make the missing thumbnails of one batch of images after ``after_id``, then queue the next batch."""
    next_id = thumbnails_run_step(run=run, after_id=after_id, limit=limit)
    if next_id is not None:
        thumbnails_make.delay(run, next_id, limit)


def thumbnails_enqueue(*, limit: int = THUMBNAIL_BATCH) -> str:
    """Start a run over every image once the current transaction commits; returns the run id."""
    run = thumbnails_run_start()
    transaction.on_commit(lambda: thumbnails_make.delay(run, 0, limit))
    return run
