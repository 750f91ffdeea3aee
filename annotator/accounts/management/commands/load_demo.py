"""``manage.py load_demo``: the synthetic demo data set (once) and the demo users (always)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.accounts.management.demo import DemoError, demo_dir, demo_import_job, demo_load
from annotator.accounts.services import DEMO_USERS, demo_users_ensure
from annotator.audits.demo import demo_audits_prepare

DEFAULT_IMAGES = 1500


class Command(BaseCommand):
    help = (
        "Load the synthetic demo data set into an empty database (taxonomy, images, noisy labels, "
        "splits) and create the demo users. Safe to run again: what is there is left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--images",
            type=int,
            default=DEFAULT_IMAGES,
            help=f"number of synthetic images (default {DEFAULT_IMAGES})",
        )
        parser.add_argument(
            "--out", type=Path, default=None, help="where the images are rendered (default DATA_DIR/demo)"
        )
        parser.add_argument("--users-only", action="store_true", help="only create the demo users")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["images"] < 1:
            raise CommandError(f"--images {options['images']}: must be at least 1")
        started = time.monotonic()
        if not options["users_only"]:
            try:
                result = demo_load(images=options["images"], out=options["out"], say=self.stdout.write)
            except DemoError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"demo data: {result.detail} ({time.monotonic() - started:.1f} s)")
        created = {user.username for user in demo_users_ensure()}
        for user in DEMO_USERS:
            state = "created" if user.username in created else "exists"
            self.stdout.write(f"demo user {user.username} ({user.role}): {state}")
        if not options["users_only"] and demo_import_job() is not None:
            # A day of the demo annotator's work, sampled, for the QA pages (once).
            demo_audits_prepare(
                demo_dir=options["out"] or demo_dir(), annotator_username="annotator", say=self.stdout.write
            )
