"""``manage.py import_folder DIR --label KEY``: crawled images for one label, as candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator.dataset.importing.console import import_job_run_in_command
from annotator.dataset.models import Image, ImportJob


class Command(BaseCommand):
    help = (
        "Import a folder of crawled images for one label. Images are found recursively (jpg, jpeg, png, "
        "webp), stay where they lie and enter as unverified candidates: crawl evidence, never truth."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", help="folder of images (searched recursively)")
        parser.add_argument("--label", required=True, help="key of the label the crawl was for")
        parser.add_argument(
            "--origin", default=Image.Origin.CRAWLED, choices=Image.Origin.values, help="origin of new images"
        )
        parser.add_argument("--source-name", default="", help='evidence source name (default "crawl:<label key>")')

    def handle(self, *args: Any, **options: Any) -> None:
        params = {
            "folder": str(Path(options["folder"]).expanduser().resolve()),
            "label": options["label"],
            "origin": options["origin"],
        }
        if options["source_name"]:
            params["source_name"] = options["source_name"]
        import_job_run_in_command(self, kind=ImportJob.Kind.FOLDER, params=params)
