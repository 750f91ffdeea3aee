"""Label health: per label, how much data it has, how clean it is, and what cleaning it would pay.

Everything here runs a fixed number of queries whatever the number of labels (one aggregate per
table, grouped by label), so the page stays fast with a few hundred labels and millions of rows.

The figures (docs/cleaning.md, "Label health"):

- **positives**: images the dataset says carry the label.
- **verified**: (image, label) states last set by a person — an annotator's decision, an audit,
  an admin or a revert — positive or negative.
- **AP**: the val AP of the latest successful model version (``label_ap_latest``).
- **decision error rate**: the share of first decisions (not undone) that changed the dataset's
  state: how often the dataset was wrong where annotators looked.
- **audit error rate**: the share of audited decisions the QA lead overturned. Read from the audits app
  (``label_audit_error_rates``); "—" for a label no audit has touched yet.
- **queue**: open items; **expected errors**: the sum of the open items' priorities (each is
  the ranking's probability that the dataset is wrong about the item), i.e. how many errors
  working through the whole queue should fix.
- **priority**: ``expected errors × (1 − AP) × data need``, where a label without a model AP
  counts AP as 0.5 and ``data need = min(1, ENOUGH / positives)`` — below the "enough data"
  count every error counts fully, above it less and less. Highest first: where an hour of
  cleaning fixes the most errors the model still suffers from.
- Positives, verified, queue and expected errors are aggregates over millions of rows: they are
  counted at most once a minute (``label_aggregates``, cached AGGREGATES_TTL seconds) for the health
  page and every annotator's home alike; the page says when they were counted.
- **enough data**: positives ≥ ``settings.CLEANING_ENOUGH_DATA_COUNT``; such a label's queue is
  not offered to annotators unless an admin opened it (``label_queue_opened_ids``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from annotator.accounts.access import STAFF_ROLES
from annotator.accounts.roles import user_has_role
from annotator.cleaning.models import Decision, ItemStatus, LabelQueue, ReviewItem
from annotator.dataset.models import ImageLabel, LabelState
from annotator.dataset.services import PERSON_SOURCES
from annotator.modeling.selectors import label_ap_latest
from annotator.taxonomy.models import Label

#: AP assumed for the priority of a label no model version has scored yet.
AP_UNKNOWN = 0.5


def enough_data_count() -> int:
    return int(settings.CLEANING_ENOUGH_DATA_COUNT)


def label_has_enough_data(positives: int) -> bool:
    return positives >= enough_data_count()


def label_queue_opened_ids() -> set[int]:
    """Labels whose queue an admin opened although they have enough data."""
    return set(LabelQueue.objects.filter(opened=True).values_list("label_id", flat=True))


#: Seconds the per-label aggregates over the big tables may be old (they take seconds at 1M images).
AGGREGATES_TTL = 60
AGGREGATES_KEY = "cleaning:health:label-aggregates"


def label_aggregates(*, fresh: bool = False) -> tuple[dict[int, dict[str, float]], datetime]:
    """Per label id: positives, verified, open, decided, expected (errors); and when they were counted.

    Two aggregate queries over the truth and the queues (each a scan of millions of rows at 1M
    images), shared by the health page and every annotator's home and cached AGGREGATES_TTL seconds.
    """
    cached = None if fresh else cache.get(AGGREGATES_KEY)
    if cached is not None:
        return cached
    rows: dict[int, dict[str, float]] = {}
    truth = ImageLabel.objects.values("label_id").annotate(
        positives=Count("id", filter=Q(state=LabelState.POSITIVE)),
        verified=Count("id", filter=Q(source__in=[str(s) for s in PERSON_SOURCES])),
    )
    for row in truth:
        rows.setdefault(row["label_id"], {}).update(positives=row["positives"], verified=row["verified"])
    queue = ReviewItem.objects.values("label_id").annotate(
        open=Count("id", filter=Q(status=ItemStatus.OPEN)),
        decided=Count("id", filter=~Q(status__in=[ItemStatus.OPEN, ItemStatus.CLOSED])),
        expected=Sum("priority", filter=Q(status=ItemStatus.OPEN)),
    )
    for row in queue:
        rows.setdefault(row["label_id"], {}).update(
            open=row["open"], decided=row["decided"], expected=float(row["expected"] or 0.0)
        )
    result = (rows, timezone.now())
    cache.set(AGGREGATES_KEY, result, AGGREGATES_TTL)
    return result


def label_audit_error_rates() -> dict[int, tuple[int, float]]:
    """Label id → (audited decisions, share overturned by QA)."""
    from annotator.audits.selectors import label_error_rates

    return label_error_rates()


@dataclass
class LabelHealth:
    label: Label
    positives: int
    verified: int
    ap: float | None
    decisions: int
    decisions_changed: int
    audits: int
    audit_error_rate: float | None
    queue_open: int
    queue_decided: int
    expected_errors: float
    enough_data: bool
    opened_by_admin: bool

    @property
    def decision_error_rate(self) -> float | None:
        return self.decisions_changed / self.decisions if self.decisions else None

    @property
    def data_need(self) -> float:
        return min(1.0, enough_data_count() / self.positives) if self.positives else 1.0

    @property
    def priority(self) -> float:
        ap = AP_UNKNOWN if self.ap is None else self.ap
        return self.expected_errors * (1.0 - ap) * self.data_need

    @property
    def offered(self) -> bool:
        """Whether annotators see this label's queue in their list (when it has open items)."""
        return not self.enough_data or self.opened_by_admin


def label_health_rows() -> list[LabelHealth]:
    """One row per active label, highest priority first (a fixed number of queries).

    Counts over the truth and the queues come from ``label_aggregates`` (up to a minute old);
    decisions, AP, audits and the opened flags are read fresh.
    """
    labels = list(Label.objects.filter(is_active=True).order_by("key"))
    aggregates, _counted_at = label_aggregates()
    decisions = {
        row["item__label_id"]: row
        for row in Decision.objects.filter(kind=Decision.Kind.FIRST, undone_at__isnull=True)
        .values("item__label_id")
        .annotate(
            n=Count("id"),
            changed=Count(
                "id",
                filter=Q(previous_state__isnull=True, new_state__isnull=False)
                | Q(previous_state__isnull=False, new_state__isnull=True)
                | (~Q(previous_state=F("new_state")) & Q(previous_state__isnull=False, new_state__isnull=False)),
            ),
        )
    }
    ap = label_ap_latest()
    audits = label_audit_error_rates()
    opened = label_queue_opened_ids()
    rows = []
    for label in labels:
        t = q = aggregates.get(label.id, {})
        d = decisions.get(label.id, {})
        positives = int(t.get("positives", 0))
        audited, audit_rate = audits.get(label.id, (0, None))
        rows.append(
            LabelHealth(
                label=label,
                positives=positives,
                verified=int(t.get("verified", 0)),
                ap=ap.get(label.id),
                decisions=int(d.get("n", 0)),
                decisions_changed=int(d.get("changed", 0)),
                audits=audited,
                audit_error_rate=audit_rate,
                queue_open=int(q.get("open", 0)),
                queue_decided=int(q.get("decided", 0)),
                expected_errors=float(q.get("expected") or 0.0),
                enough_data=label_has_enough_data(positives),
                opened_by_admin=label.id in opened,
            )
        )
    rows.sort(key=lambda row: (-row.priority, row.label.key))
    return rows


def label_health_for_user(*, user: AbstractBaseUser | AnonymousUser) -> list[LabelHealth]:
    """The health table, for QA leads and admins only."""
    if not user_has_role(user, *STAFF_ROLES):
        raise PermissionDenied
    return label_health_rows()
