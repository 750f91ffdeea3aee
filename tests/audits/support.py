"""Decisions made on a given day, as the audit tests need them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from annotator.audits.services.sampling import day_bounds, today_local
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from annotator.cleaning.services.decisions import decision_record
from annotator.dataset.models import Image
from annotator.taxonomy.models import Label


def yesterday() -> date:
    return today_local() - timedelta(days=1)


def decided(
    *, user: Any, image: Image, label: Label, verdict: int = Verdict.PRESENT, day: date | None = None, minute: int = 0
) -> Decision:
    """``user``'s decision on (image, label), recorded as the app records it, dated ``day``."""
    item, _ = ReviewItem.objects.get_or_create(
        image=image, label=label, defaults={"status": ItemStatus.OPEN, "priority": 0.5}
    )
    decision = decision_record(user=user, item=item, verdict=verdict, lease_check=False)
    start, _ = day_bounds(day or yesterday())
    when = start + timedelta(hours=9, minutes=minute)
    Decision.objects.filter(pk=decision.pk).update(created_at=when)
    decision.refresh_from_db()
    return decision


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12))


def audited(*, user: Any, image: Image, label: Label, verdict: int = Verdict.PRESENT, day: date | None = None) -> Any:
    """An audit item of ``user``'s decision on (image, label), decided on ``day``: the day's
    sample is drawn (rate 1) when it is not yet, else the item is added to it as a draw would."""
    from annotator.audits.models import AuditItem, AuditSample
    from annotator.audits.services.sampling import sample_draw

    decision = decided(user=user, image=image, label=label, verdict=verdict, day=day)
    day = day or yesterday()
    sample = AuditSample.objects.filter(day=day).first()
    if sample is None:
        sample_draw(day=day, rate=1.0, minimum=0)
    else:
        AuditItem.objects.create(
            sample=sample,
            decision=decision,
            annotator=user,
            label=label,
            image=image,
            day=day,
            position=AuditItem.objects.filter(sample=sample).count(),
            annotator_verdict=verdict,
        )
    return AuditItem.objects.select_related("label", "image", "annotator").get(decision=decision)
