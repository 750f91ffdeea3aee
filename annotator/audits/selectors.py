"""Reads of the audits app: what to audit next, accuracy with its interval, feedback.

Accuracy is agreed ÷ audited over finished audit items (status DONE), grouped by the day the
decisions were made; the interval is Wilson's score interval at 95 %, which stays inside
[0, 1] and behaves on the small counts a day's sample has (a normal interval would not).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.http import Http404

from annotator.accounts.roles import Role, user_has_role
from annotator.audits.models import AuditItem, AuditSample
from annotator.audits.services.sampling import today_local
from annotator.dataset.models import LabelHistory
from annotator.taxonomy.models import Label

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054
#: A label needs this many audits of a person before it can be called one of their weakest.
WEAKEST_MIN_AUDITS = 3


@dataclass(frozen=True)
class Accuracy:
    audited: int
    agreed: int

    @property
    def value(self) -> float | None:
        return self.agreed / self.audited if self.audited else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.agreed, self.audited)

    @property
    def below_target(self) -> bool:
        value = self.value
        return value is not None and value < settings.AUDIT_ACCURACY_TARGET

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval or (None, None)
        return {"audited": self.audited, "agreed": self.agreed, "accuracy": self.value, "low": low, "high": high}


def wilson_interval(agreed: int, audited: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of ``agreed`` successes in ``audited`` trials (None for no trial)."""
    if audited <= 0:
        return None
    p = agreed / audited
    z2 = z * z
    denominator = 1 + z2 / audited
    centre = (p + z2 / (2 * audited)) / denominator
    half = z * math.sqrt(p * (1 - p) / audited + z2 / (4 * audited * audited)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _is_qa(user: Any) -> bool:
    return user_has_role(user, Role.QA_LEAD)


def _finished(start: date, end: date) -> QuerySet[AuditItem]:
    return AuditItem.objects.filter(status=AuditItem.Status.DONE, agrees__isnull=False, day__gte=start, day__lte=end)


def _count(rows: Any) -> Accuracy:
    return Accuracy(audited=int(rows["audited"] or 0), agreed=int(rows["agreed"] or 0))


_AGG = {"audited": Count("id"), "agreed": Count("id", filter=Q(agrees=True))}


def default_range(days: int = 28) -> tuple[date, date]:
    """The last ``days`` days that can have been audited (up to yesterday)."""
    end = today_local() - timedelta(days=1)
    return end - timedelta(days=days - 1), end


def team_accuracy(*, start: date, end: date) -> Accuracy:
    return _count(_finished(start, end).aggregate(**_AGG))


@dataclass
class AnnotatorRow:
    user_id: int
    username: str
    accuracy: Accuracy
    weakest: list[tuple[Label, Accuracy]]
    pending: int


def accuracy_by_annotator(*, start: date, end: date) -> list[AnnotatorRow]:
    """One row per person audited in the range, worst accuracy first."""
    totals = {
        row["annotator_id"]: _count(row)
        for row in _finished(start, end).values("annotator_id").annotate(**_AGG).order_by()
    }
    pending = dict(
        AuditItem.objects.filter(day__gte=start, day__lte=end)
        .filter(status__in=[AuditItem.Status.PENDING, AuditItem.Status.AWAITING_REASON])
        .values("annotator_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("annotator_id", "n")
    )
    per_label: dict[int, list[tuple[int, Accuracy]]] = defaultdict(list)
    for row in _finished(start, end).values("annotator_id", "label_id").annotate(**_AGG).order_by():
        per_label[row["annotator_id"]].append((row["label_id"], _count(row)))
    people = set(totals) | set(pending)
    names = dict(get_user_model().objects.filter(pk__in=people).values_list("pk", "username"))
    weakest_ids = {
        person: sorted(
            (e for e in entries if e[1].audited >= WEAKEST_MIN_AUDITS and e[1].agreed < e[1].audited),
            key=lambda entry: (entry[1].value, -entry[1].audited),
        )[:3]
        for person, entries in per_label.items()
    }
    labels = Label.objects.in_bulk({label_id for entries in weakest_ids.values() for label_id, _ in entries})
    rows = [
        AnnotatorRow(
            user_id=person,
            username=names.get(person, str(person)),
            accuracy=totals.get(person, Accuracy(0, 0)),
            weakest=[(labels[label_id], acc) for label_id, acc in weakest_ids.get(person, [])],
            pending=pending.get(person, 0),
        )
        for person in people
    ]
    rows.sort(key=lambda row: (row.accuracy.value is None, row.accuracy.value or 0.0, row.username))
    return rows


def accuracy_trend(
    *, start: date, end: date, period: str = "day", annotator_ids: list[int] | None = None
) -> dict[int, list[tuple[date, Accuracy]]]:
    """Person id -> [(first day of the period, accuracy)], in date order; ``period`` is day or week."""
    if period not in ("day", "week"):
        raise ValueError("period is day or week")
    query = _finished(start, end)
    if annotator_ids is not None:
        query = query.filter(annotator_id__in=annotator_ids)
    bucket = F("day") if period == "day" else TruncWeek("day")
    rows = query.annotate(bucket=bucket).values("annotator_id", "bucket").annotate(**_AGG).order_by("bucket")
    trend: dict[int, list[tuple[date, Accuracy]]] = defaultdict(list)
    for row in rows:
        when = row["bucket"]
        trend[row["annotator_id"]].append((when.date() if hasattr(when, "date") else when, _count(row)))
    return dict(trend)


def accuracy_by_label(*, annotator_id: int, start: date, end: date) -> list[tuple[Label, Accuracy]]:
    rows = list(_finished(start, end).filter(annotator_id=annotator_id).values("label_id").annotate(**_AGG).order_by())
    labels = Label.objects.in_bulk([row["label_id"] for row in rows])
    result = [(labels[row["label_id"]], _count(row)) for row in rows]
    result.sort(key=lambda entry: (entry[1].value or 0.0, entry[0].key))
    return result


def _csv_safe(text: str) -> str:
    """A spreadsheet runs a cell starting with = + - @ as a formula; usernames may start with + - @."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def accuracy_csv_rows(*, start: date, end: date, period: str = "day", by_label: bool = False) -> list[list[object]]:
    """The dashboard's figures for export: per person and day (or week: its Monday), and per
    label too when ``by_label``."""
    if period not in ("day", "week"):
        raise ValueError("period is day or week")
    keys = ["annotator_id", "bucket"] + (["label_id"] if by_label else [])
    bucket = F("day") if period == "day" else TruncWeek("day")
    rows = list(
        _finished(start, end)
        .annotate(bucket=bucket)
        .values(*keys)
        .annotate(**_AGG)
        .order_by("bucket", *keys[:1], *keys[2:])
    )
    names = dict(
        get_user_model().objects.filter(pk__in={row["annotator_id"] for row in rows}).values_list("pk", "username")
    )
    labels = (
        dict(Label.objects.filter(pk__in={row["label_id"] for row in rows}).values_list("pk", "key"))
        if by_label
        else {}
    )
    header: list[object] = ["annotator", period, *(["label"] if by_label else [])]
    out = [header + ["audited", "agreed", "accuracy", "wilson_low", "wilson_high"]]
    for row in rows:
        acc = _count(row)
        low, high = acc.interval or (None, None)
        when = row["bucket"].date() if hasattr(row["bucket"], "date") else row["bucket"]
        out.append(
            [_csv_safe(names.get(row["annotator_id"], str(row["annotator_id"]))), when.isoformat()]
            + ([_csv_safe(labels.get(row["label_id"], str(row["label_id"])))] if by_label else [])
            + [
                acc.audited,
                acc.agreed,
                f"{acc.value:.4f}" if acc.value is not None else "",
                f"{low:.4f}" if low is not None else "",
                f"{high:.4f}" if high is not None else "",
            ]
        )
    return out


def annotator_accuracy(*, user_id: int, start: date | None = None, end: date | None = None) -> Accuracy:
    query = AuditItem.objects.filter(annotator_id=user_id, status=AuditItem.Status.DONE, agrees__isnull=False)
    if start is not None:
        query = query.filter(day__gte=start)
    if end is not None:
        query = query.filter(day__lte=end)
    return _count(query.aggregate(**_AGG))


def label_error_rates() -> dict[int, tuple[int, float]]:
    """Label id -> (audited decisions, share QA overturned), over every finished audit."""
    rows = (
        AuditItem.objects.filter(status=AuditItem.Status.DONE, agrees__isnull=False)
        .values("label_id")
        .annotate(**_AGG)
        .order_by()
    )
    return {row["label_id"]: (row["audited"], 1 - row["agreed"] / row["audited"]) for row in rows if row["audited"]}


# --- the audit page ----------------------------------------------------------------------


def audit_item_get_for_user(*, user: Any, item_id: int) -> AuditItem:
    """The item, for a QA lead who is not its annotator (403 otherwise, 404 when missing)."""
    if not _is_qa(user):
        raise PermissionDenied
    item = AuditItem.objects.select_related("label", "image", "annotator", "qa_user").filter(pk=item_id).first()
    if item is None:
        raise Http404("no such audit item")
    if item.annotator_id == user.pk:
        raise PermissionDenied("nobody audits their own decisions")
    return item


def _progress_counts() -> dict[str, Count]:
    """The four counters of a day's (or every day's) audit progress, as aggregates."""
    return {
        "pending": Count("id", filter=Q(status=AuditItem.Status.PENDING)),
        "awaiting": Count("id", filter=Q(status=AuditItem.Status.AWAITING_REASON)),
        "done": Count("id", filter=Q(status=AuditItem.Status.DONE)),
        "second": Count(
            "id", filter=Q(status=AuditItem.Status.DONE, second_look_requested=True, second_verdict__isnull=True)
        ),
    }


def audit_progress(*, day: date | None = None) -> dict[str, int]:
    """Counts of items to audit, waiting for a reason, done and waiting for a second look."""
    query = AuditItem.objects.all() if day is None else AuditItem.objects.filter(day=day)
    return {key: int(value or 0) for key, value in query.aggregate(**_progress_counts()).items()}


def samples_recent(*, limit: int = 14) -> list[AuditSample]:
    return list(AuditSample.objects.order_by("-day")[:limit])


def audit_progress_by_day(*, days: list[date]) -> dict[date, dict[str, int]]:
    """``audit_progress`` for each of ``days``, in one query (days without items are left out)."""
    counts = _progress_counts()
    rows = AuditItem.objects.filter(day__in=days).values("day").annotate(**counts).order_by()
    return {row["day"]: {key: int(row[key] or 0) for key in counts} for row in rows}


@dataclass(frozen=True)
class AuditChange:
    """One label state the audit's correction (or the undoing of it) changed on the image."""

    key: str
    name_en: str
    name_zh: str
    old_state: int | None
    new_state: int | None
    source: str  # audit (the judged label), relation (implied by it) or revert (undone by a second look)


_CHANGE_ORDER = {"audit": 0, "relation": 1, "revert": 2}


def audit_changes(*, item: AuditItem) -> list[AuditChange]:
    """What the audit of ``item`` changed in the dataset: the judged label first, then what
    relation rules implied, then what a second look undid (each in the order written)."""
    rows = (
        LabelHistory.objects.filter(
            image_id=item.image_id, source_ref__in=[f"audit:{item.pk}", f"undo:audit:{item.pk}"]
        )
        .select_related("label")
        .only("old_state", "new_state", "source", "label__key", "label__name_en", "label__name_zh")
        .order_by("id")
    )
    ordered = sorted(rows, key=lambda row: (_CHANGE_ORDER.get(row.source, 3), row.pk))
    return [
        AuditChange(
            key=row.label.key,
            name_en=row.label.name_en,
            name_zh=row.label.name_zh,
            old_state=row.old_state,
            new_state=row.new_state,
            source=row.source,
        )
        for row in ordered
    ]


# --- feedback to annotators --------------------------------------------------------------


def feedback_subject_for(*, user: Any, annotator_id: int | None) -> Any:
    """Whose feedback ``user`` may read: their own; QA leads anyone's (403 otherwise)."""
    if annotator_id is None or annotator_id == user.pk:
        return user
    if not _is_qa(user):
        raise PermissionDenied
    subject = get_user_model().objects.filter(pk=annotator_id).first()
    if subject is None:
        raise Http404("no such person")
    return subject


def feedback_mistakes(
    *, annotator_id: int, start: date | None = None, end: date | None = None, limit: int = 200
) -> list[AuditItem]:
    """The person's decisions QA overturned (in the range when given), newest first, with the
    label (for its guideline) and the image."""
    query = AuditItem.objects.filter(annotator_id=annotator_id, status=AuditItem.Status.DONE, agrees=False)
    # A mistake waiting for its second look is not settled yet, and a QA lead who may be asked
    # for that look must not read the earlier verdicts here first.
    query = query.exclude(second_look_requested=True, second_verdict__isnull=True)
    if start is not None:
        query = query.filter(day__gte=start)
    if end is not None:
        query = query.filter(day__lte=end)
    return list(query.select_related("label", "image").order_by("-day", "-id")[:limit])
