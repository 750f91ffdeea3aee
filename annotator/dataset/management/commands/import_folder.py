"""``manage.py import_folder DIR --label KEY``: crawled images for one label, as candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.dataset.ingest import ImportFailed, import_job_execute
from annotator.dataset.models import Image, ImportJob


def job_run_and_report(command: BaseCommand, *, kind: str, params: dict[str, Any]) -> ImportJob:
    """Create an ImportJob, run it here (not in a worker), print its phases and counts.

    The job row is kept either way, so the run shows on the Imports page too. Bad input
    becomes a CommandError naming file, row and field.
    """
    job = ImportJob.objects.create(kind=kind, params=params)
    last_phase = ""

    def progress(phase: str, done: int, total: int) -> None:
        nonlocal last_phase
        if phase != last_phase:
            command.stdout.write(f"{phase}…")
            last_phase = phase

    try:
        import_job_execute(job_id=job.id, progress=progress)
    except ImportFailed as exc:
        raise CommandError(f"import {job.id} failed, nothing changed: {exc}") from None
    job.refresh_from_db()
    if job.status != ImportJob.Status.SUCCEEDED:
        raise CommandError(f"import {job.id} {job.status}: {job.error}")
    command.stdout.write(command.style.SUCCESS(f"import {job.id} succeeded"))
    for name, value in sorted(job.counts.items()):
        command.stdout.write(f"  {name}: {value}")
    return job


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
        job_run_and_report(self, kind=ImportJob.Kind.FOLDER, params=params)
