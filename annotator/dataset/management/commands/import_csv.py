"""import_csv: a CSV of image,labels[,split] rows over images below a root; all-or-nothing."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.dataset.importing.console import ConsoleProgress, counts_summary
from annotator.dataset.ingest import ImportFailed, import_job_execute
from annotator.dataset.models import Image, ImportJob


class Command(BaseCommand):
    help = (
        "Import a CSV with columns image,labels[,split]: labels are |-separated keys of existing labels "
        "(positives, expanded through the label tree). All-or-nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the CSV file")
        parser.add_argument("--images-root", required=True, help="folder the image paths are relative to")
        parser.add_argument("--origin", choices=Image.Origin.values, default=Image.Origin.INTERNAL)

    def handle(self, *args: Any, **options: Any) -> None:
        params = {
            "file": os.path.abspath(options["file"]),
            "images_root": os.path.abspath(options["images_root"]),
            "origin": options["origin"],
        }
        job = ImportJob.objects.create(kind=ImportJob.Kind.CSV, params=params)
        progress = ConsoleProgress(self.stdout)
        try:
            import_job_execute(job_id=job.pk, progress=progress)
        except ImportFailed as exc:
            progress.close()
            raise CommandError(f"import {job.pk} failed, nothing was changed: {exc}") from exc
        progress.close()
        job.refresh_from_db()
        self.stdout.write(f"import {job.pk} done:\n{counts_summary(job.counts)}")
