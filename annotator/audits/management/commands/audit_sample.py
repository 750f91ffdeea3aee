"""``manage.py audit_sample``: draw the audit sample of a day (default yesterday) or a range."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.audits.services.sampling import SampleRefused, samples_draw_range, today_local


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Draw the QA audit sample of a day (default yesterday) or of every day of a range; days drawn before are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", help="the day (YYYY-MM-DD); default yesterday")
        parser.add_argument("--from", dest="start", help="first day of a range (YYYY-MM-DD)")
        parser.add_argument("--to", dest="end", help="last day of a range (YYYY-MM-DD); default yesterday")

    def handle(self, *args: Any, **options: Any) -> None:
        yesterday = today_local() - timedelta(days=1)
        if options["day"] and (options["start"] or options["end"]):
            raise CommandError("give --day or --from/--to, not both")
        if options["day"]:
            start = end = _day(options["day"])
        else:
            start = _day(options["start"]) if options["start"] else yesterday
            end = _day(options["end"]) if options["end"] else yesterday
        try:
            drawn = samples_draw_range(start=start, end=end)
        except SampleRefused as exc:
            raise CommandError(str(exc)) from exc
        for entry in drawn:
            sample = entry.sample
            state = "drawn" if entry.created else "drawn before, kept"
            self.stdout.write(f"{sample.day}: {sample.size} of {sample.decisions_seen} decisions ({state})")
