"""The annotator's home: my queues, what I did today and how fast, my audited accuracy.

A fixed number of queries. The per-label counts (open items, positives) are aggregates over
millions of rows, shared by every annotator and the health page and needed only roughly here, so
they are cached for a minute (``selectors_health.label_aggregates``); today's own decisions are
read fresh through the (user, created_at) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from annotator.cleaning.models import Decision
from annotator.cleaning.selectors_health import (
    AGGREGATES_KEY,
    label_aggregates,
    label_has_enough_data,
    label_queue_opened_ids,
)
from annotator.taxonomy.models import Label

#: The per-label counts are shared with the health page and cached there (a minute).
QUEUE_COUNTS_KEY = AGGREGATES_KEY
#: A gap between two decisions longer than this is a break, not work: speed counts working time.
IDLE_GAP = timedelta(minutes=5)


@dataclass
class MyQueue:
    label: Label
    open_items: int
    opened_by_admin: bool


@dataclass
class MyDay:
    decisions: int
    changed: int
    working_seconds: float

    @property
    def per_hour(self) -> float | None:
        """Decisions per hour of working time (None until there is some to measure)."""
        if self.decisions < 2 or self.working_seconds < 60:
            return None
        return self.decisions * 3600.0 / self.working_seconds


def label_counts() -> dict[int, tuple[int, int]]:
    """Label id → (open queue items, positives), at most a minute old (``label_aggregates``)."""
    aggregates, _counted_at = label_aggregates()
    return {label_id: (int(row.get("open", 0)), int(row.get("positives", 0))) for label_id, row in aggregates.items()}


def queues_offered() -> list[MyQueue]:
    """Labels with open items whose queue annotators are offered: not "enough data", or opened by an admin.

    Most open items first. This is the rule the queue list honours too.
    """
    counts = label_counts()
    opened = label_queue_opened_ids()
    wanted = {
        label_id
        for label_id, (open_items, positives) in counts.items()
        if open_items > 0 and (not label_has_enough_data(positives) or label_id in opened)
    }
    labels = Label.objects.filter(id__in=wanted, is_active=True).order_by("key")
    queues = [MyQueue(label, counts[label.id][0], label.id in opened) for label in labels]
    queues.sort(key=lambda q: (-q.open_items, q.label.key))
    return queues


def day_start(now: datetime | None = None) -> datetime:
    """Midnight today in the site's time zone (TIME_ZONE)."""
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def my_day(*, user: AbstractBaseUser | AnonymousUser, now: datetime | None = None) -> MyDay:
    """Today's decisions of ``user`` (undone ones left out) and the working time they took.

    Working time: the gaps between consecutive decisions, each capped at IDLE_GAP (a longer
    gap is a break), plus the time spent on the first one.
    """
    if user.pk is None:
        return MyDay(0, 0, 0.0)
    rows = list(
        Decision.objects.filter(user_id=int(user.pk), created_at__gte=day_start(now), undone_at__isnull=True)
        .order_by("created_at")
        .values_list("created_at", "time_spent_ms", "previous_state", "new_state")
    )
    if not rows:
        return MyDay(0, 0, 0.0)
    seconds = rows[0][1] / 1000.0
    for (before, *_), (after, *_) in zip(rows, rows[1:], strict=False):
        seconds += min(after - before, IDLE_GAP).total_seconds()
    changed = sum(1 for _, _, old, new in rows if old != new)
    return MyDay(len(rows), changed, seconds)


def my_audited_accuracy(*, user: AbstractBaseUser | AnonymousUser) -> float | None:
    """Share of ``user``'s audited decisions the QA lead upheld (None before any audit)."""
    from annotator.audits.selectors import annotator_accuracy

    if not getattr(user, "is_authenticated", False):
        return None
    return annotator_accuracy(user_id=int(user.pk or 0)).value


def annotator_home(*, user: AbstractBaseUser | AnonymousUser) -> dict[str, object]:
    return {
        "queues": queues_offered(),
        "today": my_day(user=user),
        "accuracy": my_audited_accuracy(user=user),
    }
