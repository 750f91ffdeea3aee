"""Console output for the import management commands: a tqdm-like progress line and a summary."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.core.management.base import BaseCommand

    from annotator.dataset.models import ImportJob

# Seconds between two redraws of the progress line.
REDRAW_INTERVAL = 0.2


class _Stream(Protocol):
    def write(self, text: str, /) -> object: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class ConsoleProgress:
    """A ProgressFn drawing ``phase: done/total (pct%)`` on one line (a line per phase when not a tty)."""

    def __init__(self, stream: _Stream, *, interactive: bool | None = None) -> None:
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self.phase = ""
        self._last = 0.0
        self._open_line = False

    @staticmethod
    def _text(phase: str, done: int, total: int) -> str:
        if total > 1:
            return f"{phase}: {done:,}/{total:,} ({100 * done // total}%)"
        return phase

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != self.phase:
            self.close()
            self.phase = phase
            if not self.interactive:
                self.stream.write(f"{phase}\n")
                self.stream.flush()
                return
        elif not self.interactive or (now - self._last < REDRAW_INTERVAL and done < total):
            return
        self._last = now
        self.stream.write(f"\r{self._text(phase, done, total)}\x1b[K")
        self.stream.flush()
        self._open_line = True

    def close(self) -> None:
        """End the current progress line."""
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False


# The order the summary shows counts in (the job row's JSON does not keep any order).
COUNT_ORDER = [
    "rows",
    "human_rows",
    "machine_rows",
    "files",
    "images",
    "images_created",
    "images_existing",
    "images_checked",
    "labels_created",
    "relations_created",
    "mappings_created",
    "mapping_rows_unused",
    "truth_created",
    "truth_changed",
    "truth_unchanged",
    "truth_implied",
    "kept_decisions",
    "conflicts",
    "evidence_created",
    "evidence_updated",
    "evidence_unchanged",
    "unmapped_classes",
    "unmapped_rows",
]


def counts_summary(counts: dict[str, int]) -> str:
    """Counts as aligned ``name: value`` lines in a fixed order, the per-class unmapped lines last."""
    rank = {name: i for i, name in enumerate(COUNT_ORDER)}
    ordered = sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    plain = {k: v for k, v in ordered if not k.startswith("unmapped ")}
    detail = dict(sorted(((k, v) for k, v in counts.items() if k.startswith("unmapped ")), key=lambda kv: -kv[1]))
    width = max((len(k) for k in plain), default=0)
    lines = [f"  {name.ljust(width)}  {value:,}" for name, value in plain.items()]
    if detail:
        lines.append("  rows skipped, class not mapped:")
        lines.extend(f"    {name.removeprefix('unmapped ')}: {value:,}" for name, value in detail.items())
    return "\n".join(lines)


def import_job_run_in_command(command: BaseCommand, *, kind: str, params: dict[str, Any]) -> ImportJob:
    """Create an ImportJob, run it in this process (not a worker), draw its progress and print its counts.

    Every import management command goes through here. The job row is kept either way, so a
    command-line run shows on the Imports page too. Bad input becomes a CommandError naming
    file, row and field.
    """
    from django.core.management.base import CommandError

    from annotator.dataset.ingest import ImportFailed, import_job_execute
    from annotator.dataset.models import ImportJob

    job = ImportJob.objects.create(kind=kind, params=params)
    progress = ConsoleProgress(command.stdout)
    try:
        import_job_execute(job_id=job.pk, progress=progress)
    except ImportFailed as exc:
        raise CommandError(f"import {job.pk} failed, nothing was changed: {exc}") from exc
    finally:
        progress.close()
    job.refresh_from_db()
    if job.status != ImportJob.Status.SUCCEEDED:
        raise CommandError(f"import {job.pk} {job.status}: {job.error}")
    command.stdout.write(command.style.SUCCESS(f"import {job.pk} succeeded:"))
    command.stdout.write(counts_summary(job.counts))
    return job
