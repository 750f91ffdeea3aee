"""python manage.py load_taxonomy FILE.json [--dry-run]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.taxonomy.services import taxonomy_load
from annotator.taxonomy.validation import TaxonomyError, taxonomy_file_parse


class Command(BaseCommand):
    help = (
        "Create or update labels and relations from a taxonomy JSON file (the export format). "
        "All or nothing: a bad file changes nothing. Labels and relations the file does not "
        "mention are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="taxonomy JSON file")
        parser.add_argument("--dry-run", action="store_true", help="check the file and report, write nothing")

    def handle(self, *args: Any, file: Path, dry_run: bool, **options: Any) -> None:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: cannot read: {exc.strerror or exc}") from None
        try:
            data = taxonomy_file_parse(raw=raw, source=str(file))
            result = taxonomy_load(data=data, source=str(file), dry_run=dry_run)
        except TaxonomyError as exc:
            raise CommandError(f"{exc}\nNothing was changed.") from None
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"already in the database before this load: {warning}"))
        verb = "would be" if dry_run else "were"
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: labels: {result.labels_created} created, {result.labels_updated} updated, "
                f"{result.labels_unchanged} unchanged; relations: {result.relations_created} created, "
                f"{result.relations_updated} updated, {result.relations_unchanged} unchanged"
                + (
                    f"; guideline examples replaced on {result.examples_replaced} labels"
                    if result.examples_replaced
                    else ""
                )
                + ("" if result.changed else " (nothing to change)")
                + (f" — dry run, no changes {verb} written" if dry_run else "")
            )
        )
