"""Celery tasks of the dataset app: thin, given ids, safe to run twice.

The work lives in ``annotator.dataset.ingest``; a task only loads by id and calls it.
``import_job_execute`` skips a job that already succeeded and serializes imports, so a
retry, a redelivery after a lost worker (``acks_late``) or a second worker changes
nothing twice.
"""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from django.db import InterfaceError, OperationalError, transaction

from annotator.dataset.ingest import ImportFailed, import_job_execute
from annotator.dataset.models import ImportJob

logger = logging.getLogger(__name__)


@shared_task(
    name="annotator.dataset.tasks.import_job_run",
    acks_late=True,
    reject_on_worker_lost=True,
    # Only a lost database connection is worth another try; bad input is not.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
)
def import_job_run(job_id: int) -> None:
    """Run the ImportJob ``job_id``; its row records the outcome (succeeded, or failed with the error)."""
    try:
        import_job_execute(job_id=job_id)
    except ImportFailed as exc:
        # The job row already says failed and why; the input will not get better on retry.
        logger.info("import job %s failed: %s", job_id, exc)
        return
    queues_rerank_request()


#: The cleaning app's task that rebuilds every queue from the current truth and evidence.
QUEUES_RERANK_TASK = "annotator.cleaning.tasks.queues_rerank"


def queues_rerank_request() -> None:
    """Ask a worker to rebuild the cleaning queues once the current transaction commits.

    Sent by name: the dataset app does not import the cleaning app. The rerank is idempotent,
    so an import re-run (which changes nothing) costs one cheap pass.
    """
    transaction.on_commit(lambda: current_app.send_task(QUEUES_RERANK_TASK))


def import_job_enqueue(*, job_id: int) -> None:
    """Queue ``import_job_run`` once the current transaction commits (at once outside one).

    A worker must never pick up a job whose row (or uploaded file's path) is not committed yet.
    """
    transaction.on_commit(lambda: import_job_run.delay(job_id))


def import_job_requeue(*, job_id: int) -> bool:
    """Put a failed job, or a running one whose worker was lost, back in the queue and enqueue it.

    A running job counts as lost when its heartbeat stopped for IMPORT_STALE_AFTER
    (``ImportJob.objects.rerunnable()``); a live one is left alone. Returns False (nothing
    done) for any other job. The state moves with one conditional UPDATE, so two admins
    clicking at once queue it once. Should the lost worker still be alive after all, the
    rerun waits for it on the import lock and then finds the job succeeded or runs it clean.
    """
    with transaction.atomic():
        moved = (
            ImportJob.objects.rerunnable()
            .filter(id=job_id)
            .update(
                status=ImportJob.Status.QUEUED,
                phase="",
                progress_done=0,
                progress_total=0,
                error="",
                started_at=None,
                finished_at=None,
                heartbeat_at=None,
            )
        )
        if moved != 1:
            return False
        import_job_enqueue(job_id=job_id)
    return True


@shared_task(name="annotator.dataset.tasks.snapshot_create_run", acks_late=True)
def snapshot_create_run(user_id: int | None, note: str) -> int:
    """Write a snapshot of the dataset as it is now; returns the Snapshot id.

    A snapshot is a new immutable folder each time, so a redelivered task writes a
    second, identical one (same content hash) rather than changing the first.
    """
    from django.contrib.auth import get_user_model

    from annotator.dataset.snapshots import snapshot_create

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return snapshot_create(user=user, note=note).id


def snapshot_create_enqueue(*, user_id: int | None, note: str) -> None:
    """Queue a snapshot once the current transaction commits."""
    transaction.on_commit(lambda: snapshot_create_run.delay(user_id, note))
