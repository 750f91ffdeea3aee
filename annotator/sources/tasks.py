"""Celery tasks of the competitor sources: thin, given ids, safe to run twice.

``fetch_job_run`` runs one bounded step of a fetch job and queues itself again until the
job is done; a redelivered or doubled step finds its images answered and skips them.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotator.sources import services


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
    """One step of the FetchJob ``job_id``; queues the next step when more remains."""
    step = services.fetch_job_step(job_id=job_id)
    if step.more:
        services.fetch_job_enqueue(job_id=job_id, countdown=step.countdown)


@shared_task(
    name="annotator.sources.tasks.provider_remap_run",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=3,
)
def provider_remap_run(provider: str) -> int:
    """Rebuild ``provider``'s evidence from the stored answers; returns how many labels changed."""
    return len(services.provider_remap(provider=provider))
