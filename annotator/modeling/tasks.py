"""Celery tasks of the modeling app: thin, given a job id, safe to deliver twice.

Training, re-predict and ablation tasks are routed to the ``gpu`` queue
(settings.CELERY_TASK_ROUTES), whose workers run with ``--pool=solo``. Each only calls
``runner.job_execute``, which claims the job with a conditional UPDATE: a retry, a
redelivery after a lost worker (``acks_late``) or a second worker finds it no longer queued
and does nothing. ``jobs_reap`` runs from beat on the default queue.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="annotator.modeling.tasks.train_job_run", acks_late=True, reject_on_worker_lost=True)
def train_job_run(job_id: int) -> str:
    """Train (and register a version) for job ``job_id``; returns its final status."""
    from annotator.modeling.runner import job_execute

    return job_execute(job_id=job_id)


@shared_task(name="annotator.modeling.tasks.predict_job_run", acks_late=True, reject_on_worker_lost=True)
def predict_job_run(job_id: int) -> str:
    """Re-predict every image with the job's version and replace its evidence."""
    from annotator.modeling.runner import job_execute

    return job_execute(job_id=job_id)


@shared_task(name="annotator.modeling.tasks.ablate_job_run", acks_late=True, reject_on_worker_lost=True)
def ablate_job_run(job_id: int) -> str:
    """Train the three recipes of the ablation on the job's snapshot and compare them."""
    from annotator.modeling.runner import job_execute

    return job_execute(job_id=job_id)


@shared_task(name="annotator.modeling.tasks.jobs_reap", ignore_result=True)
def jobs_reap() -> int:
    """Fail running jobs whose worker stopped beating (celery beat, every 15 s)."""
    from annotator.modeling.services import jobs_reap as reap

    return reap()
