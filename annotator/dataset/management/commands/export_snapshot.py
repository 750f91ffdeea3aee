"""python manage.py export_snapshot [--out DIR] [--note TEXT]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.dataset.snapshots import SnapshotError, snapshot_create


class Command(BaseCommand):
    help = (
        "Write an immutable snapshot (manifest.jsonl, taxonomy.json, meta.json) into a new or empty "
        "folder and record it. Images without a split are assigned one first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out", type=Path, default=None, help="new or empty folder (default: SNAPSHOT_ROOT/<UTC time>)"
        )
        parser.add_argument("--note", default="", help="a note stored with the snapshot")

    def handle(self, *args: Any, out: Path | None, note: str, **options: Any) -> None:
        try:
            snapshot = snapshot_create(out_dir=out, note=note)
        except SnapshotError as exc:
            raise CommandError(f"{exc}\nNothing was written.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"snapshot {snapshot.id} written to {snapshot.path}: {snapshot.image_count} images "
                f"({snapshot.train_count} train, {snapshot.val_count} val), {snapshot.positive_count} labels, "
                f"{snapshot.negative_count} verified negatives; sha256 {snapshot.content_hash}"
            )
        )
