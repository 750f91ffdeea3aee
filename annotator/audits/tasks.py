"""Celery tasks of the audits app: thin and safe to run twice."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotator.audits.services.sampling import sample_draw, today_local

logger = logging.getLogger(__name__)


@shared_task(
    name="annotator.audits.tasks.daily_sample",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    max_retries=5,
)
def daily_sample(*, day: str | None = None) -> dict[str, object]:
    """Draw the sample of ``day`` (ISO date; default yesterday). Drawing a day twice draws once."""
    when = date.fromisoformat(day) if day else today_local() - timedelta(days=1)
    drawn = sample_draw(day=when)
    logger.info(
        "audit sample of %s: %s items of %s decisions%s",
        when,
        drawn.sample.size,
        drawn.sample.decisions_seen,
        "" if drawn.created else " (drawn before)",
    )
    return {"day": when.isoformat(), "size": drawn.sample.size, "created": drawn.created}
