"""Reads on the dataset."""

from __future__ import annotations

from django.db.models import Count, Q

from annotator.dataset.models import Evidence, Image, ImageLabel, ImportJob, LabelState, Snapshot


def dataset_overview() -> dict[str, object]:
    """Headline counts for the home page (a handful of aggregate queries)."""
    splits = Image.objects.aggregate(
        images=Count("id"),
        train=Count("id", filter=Q(split=Image.Split.TRAIN)),
        val=Count("id", filter=Q(split=Image.Split.VAL)),
    )
    truth = ImageLabel.objects.aggregate(
        positives=Count("id", filter=Q(state=LabelState.POSITIVE)),
        negatives=Count("id", filter=Q(state=LabelState.NEGATIVE)),
    )
    return {
        **splits,
        **truth,
        "evidence": Evidence.objects.count(),
        "recent_imports": list(ImportJob.objects.order_by("-id")[:5]),
        "latest_snapshot": Snapshot.objects.order_by("-id").first(),
    }
