"""python manage.py assign_splits [--seed S]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator.dataset.splits import BOUND_MIN_IMAGES, splits_assign


class Command(BaseCommand):
    help = (
        "Give every image without a split one (train or val), stratified per label so each label "
        "stays near 9:1. Images that have a split keep it forever. Prints per-label counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=0, help="tie-break seed (same seed, same data → same split)")

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        report = splits_assign(seed=seed)
        width = max([len(row.key) for row in report.labels] + [5])
        self.stdout.write(f"{'label':<{width}}  {'images':>8}  {'train':>8}  {'val':>7}  {'target':>7}  {'off':>4}")
        for row in sorted(report.labels, key=lambda item: (-item.images, item.key)):
            self.stdout.write(
                f"{row.key:<{width}}  {row.images:>8}  {row.train:>8}  {row.val:>7}  {row.target_val:>7}  "
                f"{row.deviation:>+4}"
            )
        self.stdout.write(
            f"assigned now: {report.assigned_train} train, {report.assigned_val} val; "
            f"all images: {report.total_train} train, {report.total_val} val (val fraction {report.val_fraction:g})"
        )
        worst = report.worst
        if worst is None:
            self.stdout.write(f"no label has {BOUND_MIN_IMAGES} or more images yet")
            return
        message = (
            f"worst deviation among labels with ≥ {BOUND_MIN_IMAGES} images: {report.worst_deviation} image(s) "
            f"({worst.key}: {worst.val} val, target {worst.target_val})"
        )
        style = self.style.SUCCESS if report.worst_deviation <= 1 else self.style.WARNING
        self.stdout.write(style(message))
