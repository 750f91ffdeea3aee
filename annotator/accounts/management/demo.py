"""The demo data set: synthetic images, the taxonomy, noisy labels and splits, loaded once.

``load_demo`` (and through it the run command on its first start) calls ``demo_load``.
It only composes the services that do the real work, so the demo goes through the same
code as a real import:

1. ``training.synth.generate`` renders the images and writes ``taxonomy.json`` and the
   noisy ``labels.csv`` under ``DATA_DIR/demo`` (skipped when an earlier run left the same
   images there);
2. ``taxonomy_load`` loads the taxonomy (idempotent);
3. a CSV ``ImportJob`` run by ``import_job_execute`` imports ``labels.csv`` (all or nothing);
4. ``splits_assign`` gives every image its train / val split;
5. ``queues_rerank`` builds the cleaning queues (one per label).

The succeeded demo ImportJob is the marker that the demo is in this database: a second
call changes nothing. A database that already holds other images is left alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

DEMO_SEED = 0
SPLIT_SEED = 0
# Written next to the generated files once generation finished, so an interrupted
# generation is redone and a finished one is reused.
GENERATED_STAMP = "labelloop-demo.json"

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """The demo could not be loaded; the message names the step and the cause."""


@dataclass(frozen=True)
class DemoResult:
    """What ``demo_load`` did: ``status`` is ``loaded``, ``present`` or ``skipped``."""

    status: str
    detail: str
    images: int = 0


def demo_dir() -> Path:
    return Path(settings.DATA_DIR) / "demo"


def demo_import_job() -> Any | None:
    """The succeeded import that loaded the demo into this database, if any."""
    from annotator.dataset.models import ImportJob

    return ImportJob.objects.filter(params__demo=True, status=ImportJob.Status.SUCCEEDED).order_by("id").first()


def _say_nothing(message: str) -> None:
    pass


def demo_generate(*, out: Path, images: int, seed: int = DEMO_SEED, say: Say = _say_nothing) -> Path:
    """Render the synthetic data set into ``out`` unless the same one is already there."""
    from training.synth import generate

    stamp_path = out / GENERATED_STAMP
    wanted = {"images": images, "seed": seed}
    try:
        if json.loads(stamp_path.read_text(encoding="utf-8")) == wanted and (out / "labels.csv").is_file():
            say(f"reusing the demo images in {out}")
            return out
    except (OSError, ValueError):
        pass
    stamp_path.unlink(missing_ok=True)

    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            say(f"rendering demo images: {done}/{total}")

    generate(out, images=images, seed=seed, progress=progress)
    stamp_path.write_text(json.dumps(wanted) + "\n", encoding="utf-8")
    return out


def demo_load(*, images: int, out: Path | None = None, say: Say = _say_nothing) -> DemoResult:
    """Load the demo data set into an empty database once; see the module docstring."""
    from annotator.cleaning.models import ReviewItem
    from annotator.cleaning.services import queues_rerank
    from annotator.dataset.ingest import import_job_execute
    from annotator.dataset.models import Image, ImportJob
    from annotator.dataset.splits import splits_assign
    from annotator.taxonomy.services import taxonomy_load

    existing = demo_import_job()
    if existing is not None:
        if Image.objects.filter(split="").exists():  # an earlier load stopped before the split
            splits_assign(seed=SPLIT_SEED)
        if not ReviewItem.objects.exists():  # ... or before the queues were built
            queues_rerank()
        return DemoResult("present", f"the demo data is already loaded (import #{existing.pk})")
    if Image.objects.exists():
        return DemoResult("skipped", "the database already holds images; the demo data is not loaded into it")
    out = demo_dir() if out is None else out
    demo_generate(out=out, images=images, say=say)

    taxonomy_file = out / "taxonomy.json"
    taxonomy = taxonomy_load(data=json.loads(taxonomy_file.read_text(encoding="utf-8")), source=str(taxonomy_file))
    say(f"taxonomy: {taxonomy.labels_created} labels and {taxonomy.relations_created} relations created")

    job = ImportJob.objects.create(
        kind=ImportJob.Kind.CSV,
        params={
            "file": str(out / "labels.csv"),
            "images_root": str(out / "images"),
            "origin": Image.Origin.INTERNAL,
            "demo": True,
        },
    )
    last_phase = [""]

    def progress(phase: str, done: int, total: int) -> None:
        if phase != last_phase[0]:
            last_phase[0] = phase
            say(f"import: {phase}")

    try:
        import_job_execute(job_id=job.pk, progress=progress)
    except Exception as exc:
        raise DemoError(f"importing {out / 'labels.csv'} failed: {exc}") from exc
    job.refresh_from_db()
    if job.status != ImportJob.Status.SUCCEEDED:
        raise DemoError(f"importing {out / 'labels.csv'} ended {job.status}: {job.error}")

    splits_assign(seed=SPLIT_SEED)
    # The cleaning queues, so annotators find work on the first page they open.
    totals = queues_rerank()
    say(f"cleaning queues: {totals['created']} items in {totals['labels']} queues")
    count = Image.objects.count()
    return DemoResult("loaded", f"{count} images, taxonomy and noisy labels loaded from {out}", images=count)
