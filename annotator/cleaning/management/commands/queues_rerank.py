"""``manage.py queues_rerank``: rebuild the cleaning queues here, or queue the Celery task."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from annotator.taxonomy.models import Label


class Command(BaseCommand):
    help = "Recompute the cleaning queues (items and priorities) from the current truth and evidence."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--label", action="append", default=[], help="a label key (repeatable; default: all)")
        parser.add_argument("--queue", action="store_true", help="queue the Celery task instead of working here")

    def handle(self, *args: Any, label: list[str], queue: bool, **options: Any) -> None:
        label_ids = None
        if label:
            found = dict(Label.objects.filter(key__in=label).values_list("key", "id"))
            unknown = sorted(set(label) - set(found))
            if unknown:
                self.stderr.write(f"--label: no label has the key {', '.join(unknown)}")
                sys.exit(2)
            label_ids = sorted(found.values())
        if queue:
            from annotator.cleaning.tasks import queues_rerank_enqueue

            queues_rerank_enqueue(label_ids=label_ids)
            self.stdout.write("queued: annotator.cleaning.tasks.queues_rerank")
            return
        from annotator.cleaning.services import queues_rerank

        counts = queues_rerank(label_ids=label_ids)
        self.stdout.write(
            f"{counts['labels']} labels: {counts['candidates']} items supported, {counts['created']} new, "
            f"{counts['updated']} re-ranked, {counts['closed']} closed"
        )
