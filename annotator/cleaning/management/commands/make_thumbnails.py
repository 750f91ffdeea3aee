"""``manage.py make_thumbnails``: make every missing thumbnail here, or queue the Celery job."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from annotator.cleaning.thumbnails import (
    THUMBNAIL_BATCH,
    thumbnails_progress,
    thumbnails_run_start,
    thumbnails_run_step,
)


class Command(BaseCommand):
    help = "Make the thumbnail of every image that has none (made once; existing ones are kept)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--queue", action="store_true", help="queue the Celery job instead of working here")
        parser.add_argument("--batch", type=int, default=THUMBNAIL_BATCH, help=f"images per batch ({THUMBNAIL_BATCH})")

    def handle(self, *args: Any, queue: bool, batch: int, **options: Any) -> None:
        if batch < 1:
            self.stderr.write(f"--batch {batch}: must be at least 1")
            sys.exit(2)
        if queue:
            from annotator.cleaning.tasks_thumbnails import thumbnails_enqueue

            run = thumbnails_enqueue(limit=batch)
            self.stdout.write(f"thumbnails: queued run {run}; progress on the label health page")
            return
        run = thumbnails_run_start()
        cursor: int | None = 0
        while cursor is not None:
            cursor = thumbnails_run_step(run=run, after_id=cursor, limit=batch)
            p = thumbnails_progress()
            self.stdout.write(
                f"\rthumbnails: {p['done']}/{p['total']} images ({p['percent']}%), "
                f"{p['made']} made, {p['skipped']} already there, {p['failed']} unreadable",
                ending="",
            )
        self.stdout.write("")
