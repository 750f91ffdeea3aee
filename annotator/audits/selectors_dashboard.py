"""What the accuracy dashboard and the feedback pages show, built on the accuracy selectors.

The trend charts are drawn in the browser (static/js/audit_trend.js) from the points handed
over as JSON in a data-* attribute; every page that shows a chart builds them here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.utils.safestring import SafeString

from annotator.audits.models import AuditItem
from annotator.audits.selectors import (
    Accuracy,
    AnnotatorRow,
    accuracy_by_annotator,
    accuracy_by_label,
    accuracy_trend,
    annotator_accuracy,
    feedback_mistakes,
    team_accuracy,
)
from annotator.cleaning.models import Verdict
from annotator.taxonomy.models import Label
from annotator.taxonomy.services.guidelines import label_guideline_html


def trend_json(points: list[tuple[date, Accuracy]]) -> str:
    """The points of one trend chart: period start, audited, agreed, accuracy and interval."""
    out = []
    for when, acc in points:
        low, high = acc.interval or (None, None)
        out.append(
            {
                "day": when.isoformat(),
                "audited": acc.audited,
                "agreed": acc.agreed,
                "accuracy": round(acc.value, 4) if acc.value is not None else None,
                "low": round(low, 4) if low is not None else None,
                "high": round(high, 4) if high is not None else None,
            }
        )
    return json.dumps(out, separators=(",", ":"))


@dataclass
class DashboardRow:
    row: AnnotatorRow
    trend: str  # JSON for the chart


@dataclass
class Dashboard:
    start: date
    end: date
    period: str
    target: float
    team: Accuracy
    rows: list[DashboardRow]

    @property
    def below_target(self) -> list[DashboardRow]:
        return [entry for entry in self.rows if entry.row.accuracy.below_target]


def dashboard_for(*, start: date, end: date, period: str) -> Dashboard:
    """Team accuracy, one row per annotator (worst first) with their trend; a fixed number of queries."""
    rows = accuracy_by_annotator(start=start, end=end)
    trends = accuracy_trend(start=start, end=end, period=period)
    return Dashboard(
        start=start,
        end=end,
        period=period,
        target=settings.AUDIT_ACCURACY_TARGET,
        team=team_accuracy(start=start, end=end),
        rows=[DashboardRow(row=row, trend=trend_json(trends.get(row.user_id, []))) for row in rows],
    )


@dataclass
class Mistake:
    item: AuditItem
    annotator_verdict: str
    qa_verdict: str
    guideline: SafeString


def _verdict_text(value: int | None) -> str:
    return str(Verdict(value).label) if value is not None else "—"


def mistakes_for(*, annotator_id: int, start: date, end: date) -> list[Mistake]:
    """The person's overturned decisions in the range, newest first, each with its label's guideline.

    QA's verdict is the final one: the second look's when a second QA lead settled it.
    """
    items = feedback_mistakes(annotator_id=annotator_id, start=start, end=end)
    guidelines: dict[int, SafeString] = {}
    out = []
    for item in items:
        label: Label = item.label
        if label.pk not in guidelines:
            guidelines[label.pk] = label_guideline_html(label)
        final = item.second_verdict if item.second_verdict is not None else item.qa_verdict
        out.append(
            Mistake(
                item=item,
                annotator_verdict=_verdict_text(item.annotator_verdict),
                qa_verdict=_verdict_text(final),
                guideline=guidelines[label.pk],
            )
        )
    return out


def person_accuracy_for(*, annotator_id: int, start: date, end: date, period: str) -> dict[str, Any]:
    """One person's figures over the range: overall, trend (JSON), per label."""
    return {
        "accuracy": annotator_accuracy(user_id=annotator_id, start=start, end=end),
        "trend": trend_json(
            accuracy_trend(start=start, end=end, period=period, annotator_ids=[annotator_id]).get(annotator_id, [])
        ),
        "by_label": accuracy_by_label(annotator_id=annotator_id, start=start, end=end),
        "target": settings.AUDIT_ACCURACY_TARGET,
    }
