"""import_openimages: Open Images labels, classes [, hierarchy] [, mapping] and images; all-or-nothing."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator.dataset.importing.console import import_job_run_in_command
from annotator.dataset.models import ImportJob


class Command(BaseCommand):
    help = (
        "Import Open Images image-level labels: human-verified rows become positives / verified negatives "
        "(expanded through the label tree), machine rows become evidence. All-or-nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--labels", required=True, help="labels CSV: ImageID,Source,LabelName,Confidence")
        parser.add_argument("--classes", required=True, help="class descriptions CSV: LabelName,DisplayName")
        parser.add_argument("--hierarchy", help="bbox_labels_600_hierarchy.json (places new labels in the tree)")
        parser.add_argument("--mapping", help="CSV MID,key onto existing labels (default: create labels)")
        parser.add_argument("--images-root", required=True, help="folder holding <ImageID>.jpg")

    def handle(self, *args: Any, **options: Any) -> None:
        params = {
            "labels": os.path.abspath(options["labels"]),
            "classes": os.path.abspath(options["classes"]),
            "hierarchy": os.path.abspath(options["hierarchy"]) if options["hierarchy"] else None,
            "mapping": os.path.abspath(options["mapping"]) if options["mapping"] else None,
            "images_root": os.path.abspath(options["images_root"]),
        }
        import_job_run_in_command(self, kind=ImportJob.Kind.OPENIMAGES, params=params)
