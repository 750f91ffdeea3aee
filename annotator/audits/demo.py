"""A day of demo work for the QA pages: the demo annotator's decisions of yesterday, sampled.

With the demo data loaded (annotator/accounts/management/demo.py) and the demo users in
place, ``demo_audits_prepare`` has the demo annotator decide the top items of a few queues
through the same service the review page calls, dated yesterday, about nine in ten of them
as the synthetic truth (``labels_clean.csv``) says, and then draws yesterday's sample: a QA
lead finds a sample to audit on the first visit, and the dashboard has figures once they do.
Runs once: a database with any audit sample is left alone.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from annotator.audits.models import AuditSample
from annotator.audits.services.sampling import day_bounds, sample_draw, today_local
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from annotator.cleaning.services.decisions import decision_record
from annotator.dataset.models import Image

DEMO_DECISIONS = 80
DEMO_QUEUES = 4
DEMO_ACCURACY = 0.88
DEMO_SEED = 7


def _truth(path: Path) -> dict[str, set[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {Path(row["image"]).name: set(filter(None, row["labels"].split("|"))) for row in csv.DictReader(fh)}


def demo_audits_prepare(*, demo_dir: Path, annotator_username: str, say: Callable[[str], None]) -> int:
    """Record the demo annotator's day and draw its sample; returns the items drawn (0: nothing done)."""
    if AuditSample.objects.exists() or not (demo_dir / "labels_clean.csv").is_file():
        return 0
    annotator = get_user_model().objects.filter(username=annotator_username).first()
    if annotator is None or Decision.objects.filter(user=annotator).exists():
        return 0
    truth = _truth(demo_dir / "labels_clean.csv")
    rng = random.Random(DEMO_SEED)
    label_ids = list(
        ReviewItem.objects.filter(status=ItemStatus.OPEN)
        .values_list("label_id", flat=True)
        .distinct()
        .order_by("label_id")[: DEMO_QUEUES * 3]
    )
    rng.shuffle(label_ids)
    per_queue = DEMO_DECISIONS // DEMO_QUEUES
    items = [
        item
        for label_id in label_ids[:DEMO_QUEUES]
        for item in ReviewItem.objects.filter(label_id=label_id, status=ItemStatus.OPEN)
        .select_related("label")
        .order_by("-priority", "id")[:per_queue]
    ]
    paths = dict(Image.objects.filter(pk__in=[i.image_id for i in items]).values_list("pk", "relative_path"))
    yesterday = today_local() - timedelta(days=1)
    start, _ = day_bounds(yesterday)
    with transaction.atomic():
        for n, item in enumerate(items):
            keys = truth.get(Path(paths[item.image_id]).name, set())
            right = Verdict.PRESENT if item.label.key in keys else Verdict.ABSENT
            wrong = Verdict.ABSENT if right == Verdict.PRESENT else Verdict.PRESENT
            verdict = right if rng.random() < DEMO_ACCURACY else wrong
            decision = decision_record(user=annotator, item=item, verdict=verdict, lease_check=False)
            Decision.objects.filter(pk=decision.pk).update(created_at=start + timedelta(hours=9, seconds=40 * n))
    drawn = sample_draw(day=yesterday)
    say(f"audits: {len(items)} demo decisions of {yesterday}, {drawn.sample.size} sampled for QA")
    return drawn.sample.size
