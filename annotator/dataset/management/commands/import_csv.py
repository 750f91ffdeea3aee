"""import_csv: a CSV of image,labels[,split] rows over images below a root; all-or-nothing."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator.dataset.importing.console import import_job_run_in_command
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
        import_job_run_in_command(self, kind=ImportJob.Kind.CSV, params=params)
