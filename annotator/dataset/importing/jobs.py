"""Running import jobs: one transaction per import, progress visible while it runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from annotator.dataset.importers import importer_get
from annotator.dataset.importing.errors import ImportFailed, ProgressFn, progress_none
from annotator.dataset.importing.progress import JobProgressWriter
from annotator.dataset.importing.staging import raw_cursor
from annotator.dataset.models import ImportJob
from annotator.dataset.services import ConcurrentLabelChange

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key serializing imports ("LLIM"): two imports never interleave,
# so image get-or-create, label creation and the truth diff see a stable dataset.
IMPORT_LOCK_KEY = 0x4C4C494D


@dataclass
class ImportContext:
    """What an importer's ``run(*, ctx)`` gets.

    ``params`` is a copy of ``job.params``; ``source_ref`` (``import:<job id>``) goes on
    every history row; ``progress`` is never None; ``user_id`` (the job's creator) goes
    on history rows as the user.
    """

    job: ImportJob
    params: dict[str, Any]
    source_ref: str
    progress: ProgressFn = progress_none
    user_id: int | None = None


def import_run(*, job: ImportJob, progress: ProgressFn | None = None) -> dict[str, int]:
    """Run ``job`` (dispatching on ``job.kind`` with ``job.params``) in ONE transaction.

    All-or-nothing: on ImportFailed (or any error) nothing is changed. On success the
    counts, status ``succeeded`` and finished_at are written to the job row in the same
    transaction, so a job is succeeded exactly when its data is committed. Imports are
    serialized (a transaction-level advisory lock); a job found succeeded once the lock is
    held is not run again (its stored counts are returned). Returns the counts.
    """
    report = progress or progress_none
    try:
        importer = importer_get(kind=job.kind)
    except (KeyError, ImportError) as exc:
        raise ImportFailed(f'no importer for kind "{job.kind}"', field="kind") from exc
    ctx = ImportContext(
        job=job,
        params=dict(job.params or {}),
        source_ref=f"import:{job.pk}" if job.pk else "import",
        progress=report,
        user_id=job.created_by_id,
    )
    try:
        with transaction.atomic():
            with raw_cursor() as cur:
                report("waiting for other imports", 0, 0)
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
            if job.pk is not None:
                done = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.SUCCEEDED).first()
                if done is not None:
                    logger.info("import %s already succeeded; not run again", job.pk)
                    return dict(done.counts)
            counts = importer(ctx=ctx)
            report("done", 1, 1)
            job.counts = counts
            if job.pk is not None:
                ImportJob.objects.filter(pk=job.pk).update(
                    counts=counts,
                    status=ImportJob.Status.SUCCEEDED,
                    finished_at=timezone.now(),
                    phase="done",
                    progress_done=1,
                    progress_total=1,
                    error="",
                )
    except ConcurrentLabelChange as exc:
        raise ImportFailed(f"labels changed while importing ({exc}); nothing was imported, run it again") from exc
    logger.info("import %s (%s) succeeded: %s", job.pk, job.kind, counts)
    return counts


def import_job_execute(*, job_id: int, progress: ProgressFn | None = None) -> None:
    """Load the job and run it: the entry point of the Celery task and management commands.

    Skips a job already succeeded (safe to retry). Marks it running (committed at once
    when called outside a transaction, as tasks and commands are), writes phase/progress
    and a heartbeat through an autocommit side connection while the import transaction runs
    (so a polling page sees it; see ``importing.progress``), and on failure marks it failed with the
    error text, then re-raises: ImportFailed for bad input (do not retry: the input will
    not change), anything else for bugs and outages. ``progress`` is an extra callback
    (e.g. the management command's console line).
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.SUCCEEDED:
        logger.info("import %s already succeeded; skipped", job_id)
        return
    ImportJob.objects.filter(pk=job_id).exclude(status=ImportJob.Status.SUCCEEDED).update(
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=Now(),  # the database's clock, as the heartbeat and the staleness check use
        finished_at=None,
        error="",
        phase="starting",
        progress_done=0,
        progress_total=0,
    )
    writer = JobProgressWriter(job_id)

    def report(phase: str, done: int, total: int) -> None:
        writer(phase, done, total)
        if progress is not None:
            progress(phase, done, total)

    try:
        import_run(job=job, progress=report)
    except ImportFailed as exc:
        _job_fail(job_id, str(exc))
        raise
    except Exception as exc:
        logger.exception("import %s crashed", job_id)
        _job_fail(job_id, f"internal error ({exc.__class__.__name__}): {exc}")
        raise
    finally:
        writer.close()


def _job_fail(job_id: int, error: str) -> None:
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.FAILED, error=error, finished_at=timezone.now())
