"""Celery tasks of the competitor sources: thin, given ids, safe to run twice.

``fetch_job_run`` runs one bounded step of a fetch job and queues itself again until the
job is done; a redelivered or doubled step finds its images answered and skips them.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotator.sources import services
from annotator.sources.config import redact

logger = logging.getLogger(__name__)


@shared_task(
    name="annotator.sources.tasks.fetch_job_run",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
)
def fetch_job_run(job_id: int) -> None:
    """One step of the FetchJob ``job_id``; queues the next step when more remains.

    A lost database connection is retried (Celery autoretry); anything else unexpected ends
    the job as failed with the (redacted) error, so its page never spins forever.
    """
    try:
        step = services.fetch_job_step(job_id=job_id)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        # No traceback in the log: only our own redacted words reach it.
        logger.error("fetch job %s failed: %s: %s", job_id, type(exc).__name__, redact(exc))
        services.fetch_job_fail(job_id=job_id, error=exc)
        return
    if step.more:
        services.fetch_job_enqueue(job_id=job_id, countdown=step.countdown)


@shared_task(
    name="annotator.sources.tasks.provider_remap_run",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=3,
)
def provider_remap_run(provider: str, keywords: list[str] | None = None) -> int:
    """Rebuild ``provider``'s evidence from the stored answers (of the images holding
    ``keywords``, or all); returns how many labels changed."""
    return len(services.provider_remap(provider=provider, keywords=keywords))
