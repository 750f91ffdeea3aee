"""``manage.py import_labelstudio FILE.json --images-root DIR``: a Label Studio JSON export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator.dataset.importing.console import import_job_run_in_command
from annotator.dataset.models import Image, ImportJob


def _absolute(value: str) -> str:
    return str(Path(value).expanduser().resolve())


class Command(BaseCommand):
    help = (
        "Import a Label Studio JSON export of an image-classification (choices) project: the latest "
        "non-cancelled annotation of each task becomes truth (positives, closure applied), predictions "
        "become evidence. See docs/imports-ui.md for how image paths and choices are resolved."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", help="the JSON export (a list of tasks)")
        parser.add_argument("--images-root", required=True, help="folder the task images are resolved under")
        parser.add_argument("--from-name", default="", help="only read the choices of this control")
        parser.add_argument("--mapping", default="", help="CSV of choice,key rows")
        parser.add_argument("--data-key", default="image", help='task data field with the image (default "image")')
        parser.add_argument(
            "--origin", default=Image.Origin.INTERNAL, choices=Image.Origin.values, help="origin of new images"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        params: dict[str, Any] = {
            "export": _absolute(options["export"]),
            "images_root": _absolute(options["images_root"]),
            "data_key": options["data_key"],
            "origin": options["origin"],
        }
        if options["from_name"]:
            params["from_name"] = options["from_name"]
        if options["mapping"]:
            params["mapping"] = _absolute(options["mapping"])
        import_job_run_in_command(self, kind=ImportJob.Kind.LABELSTUDIO, params=params)
