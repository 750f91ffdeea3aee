"""python manage.py fetch_competitor_labels --provider baidu [--label KEY] [--refetch] [--remap]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.sources import services
from annotator.sources.config import PROVIDERS
from annotator.sources.models import FetchJob
from annotator.sources.selectors import fetch_job_message
from annotator.taxonomy.models import Label


class Command(BaseCommand):
    help = (
        "Fetch a competitor provider's labels for all images or one label's queue, in this process "
        "(the same job the Competitor labels page starts, without a worker), printing its progress. "
        "With --remap, only re-map the stored answers (no provider call)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, choices=PROVIDERS)
        parser.add_argument("--label", help="the key of a label: fetch only that label's queue")
        parser.add_argument("--refetch", action="store_true", help="call again for images already answered")
        parser.add_argument("--remap", action="store_true", help="re-map the stored answers and stop")

    def handle(self, *args: Any, provider: str, label: str | None, refetch: bool, remap: bool, **options: Any) -> None:
        if remap:
            touched = services.provider_remap(provider=provider)
            self.stdout.write(f"{provider}: stored answers re-mapped, evidence of {len(touched)} labels changed")
            return
        chosen = None
        if label:
            chosen = Label.objects.filter(key=label).first()
            if chosen is None:
                raise CommandError(f'--label: no label with the key "{label}"')
        try:
            # Run here, not by a worker: the job is created without being queued.
            job = services.fetch_job_create(provider=provider, label=chosen, refetch=refetch, user=None, enqueue=False)
        except services.SourceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"fetch job {job.id}: {provider}, {'queue of ' + label if label else 'all images'}")
        while services.fetch_job_step(job_id=job.id).more:
            job.refresh_from_db()
            self.stdout.write(f"  {job.progress_done}/{job.progress_total} images")
        job.refresh_from_db()
        counts = ", ".join(f"{name} {value}" for name, value in sorted(job.counts.items()))
        self.stdout.write(f"{job.get_status_display()}: {counts or 'nothing to fetch'}")
        if job.status != FetchJob.Status.SUCCEEDED:
            raise CommandError(fetch_job_message(job))
