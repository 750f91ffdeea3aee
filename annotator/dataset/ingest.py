"""The import core: the one public interface every importer and caller uses.

Callers (management commands, the Celery task, the admin UI) use:

- ``import_job_execute(job_id=...)``: run a queued ImportJob; idempotent for retries.
- ``import_run(job=..., progress=...)``: the import itself, in ONE transaction.
- ``ImportFailed``: bad input, naming file, row and field; nothing was changed.

Importers (``annotator.dataset.importers.<kind>``) each define
``run(*, ctx: ImportContext) -> dict[str, int]`` and use the pipeline:

1. parse and validate their input, raising ``ImportFailed(message, file=, row=, field=)``;
2. ``register_images(root, specs, progress=ctx.progress)`` -> ``{spec.path: image_id}``;
3. ``apply_truth(rows, source_ref=ctx.source_ref, reason=...)`` for positives/negatives
   (positives are expanded through the label closure) and/or
   ``apply_evidence(rows, source=evidence_source_get_or_create(...))`` for scored opinions;
4. return their counts (merged with the counts of the calls above).

Everything runs inside the transaction opened by ``import_run``; an importer never
opens or commits one itself. See docs/imports.md.
"""

from __future__ import annotations

from annotator.dataset.importing.errors import ImportFailed, ProgressFn, progress_none
from annotator.dataset.importing.images import ImageSpec, register_images
from annotator.dataset.importing.jobs import ImportContext, import_job_execute, import_run
from annotator.dataset.importing.truth import apply_evidence, apply_truth, evidence_source_get_or_create

__all__ = [
    "ImageSpec",
    "ImportContext",
    "ImportFailed",
    "ProgressFn",
    "apply_evidence",
    "apply_truth",
    "evidence_source_get_or_create",
    "import_job_execute",
    "import_run",
    "progress_none",
    "register_images",
]
