"""Celery tasks of the cleaning app: thin, given ids, safe to run twice.

``queues_rerank`` stays first in this module; other cleaning tasks follow it.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from annotator.cleaning.services.rerank import queues_rerank as queues_rerank_service

logger = logging.getLogger(__name__)


@shared_task(
    name="annotator.cleaning.tasks.queues_rerank",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
)
def queues_rerank(*, label_ids: list[int] | None = None) -> dict[str, int]:
    """Recompute the queues of ``label_ids`` (every active label when None) from the current
    truth and evidence. Idempotent: a retry or a second worker writes nothing twice."""
    return queues_rerank_service(label_ids=label_ids)


def queues_rerank_enqueue(*, label_ids: list[int] | None = None) -> None:
    """Queue ``queues_rerank`` once the current transaction commits."""
    kwargs = {"label_ids": label_ids} if label_ids is not None else {}
    transaction.on_commit(lambda: queues_rerank.apply_async(kwargs=kwargs))


# Registers the thumbnail task (annotator/cleaning/tasks_thumbnails.py) with the workers.
from annotator.cleaning.tasks_thumbnails import thumbnails_make  # noqa: E402,F401
