"""Running import jobs: one transaction per import, progress visible while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator.dataset.importing.errors import ProgressFn, progress_none
from annotator.dataset.models import ImportJob


@dataclass
class ImportContext:
    """What an importer's ``run(*, ctx)`` gets.

    ``params`` is ``job.params``; ``source_ref`` (``import:<job id>``) goes on every
    history row; ``progress`` is never None.
    """

    job: ImportJob
    params: dict[str, Any]
    source_ref: str
    progress: ProgressFn = progress_none
    user_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)


def import_run(*, job: ImportJob, progress: ProgressFn | None = None) -> dict[str, int]:
    """Run ``job`` (dispatching on ``job.kind`` with ``job.params``) in ONE transaction.

    All-or-nothing: on ImportFailed (or any error) nothing is changed. On success the
    counts, status ``succeeded`` and finished_at are written to the job row in the same
    transaction, so a job is succeeded exactly when its data is committed.
    Imports are serialized (a PostgreSQL advisory lock); a job found succeeded once the
    lock is held is skipped. Returns the counts.
    """
    raise NotImplementedError


def import_job_execute(*, job_id: int, progress: ProgressFn | None = None) -> None:
    """Load the job and run it: the entry point of the Celery task and management commands.

    Skips a job already succeeded (safe to retry). Marks it running (committed at once),
    writes phase/progress through an autocommit side connection while the import
    transaction runs (so a polling page sees it), and on failure marks it failed with the
    error text. ImportFailed is re-raised for the caller after the job is marked failed.
    """
    raise NotImplementedError
