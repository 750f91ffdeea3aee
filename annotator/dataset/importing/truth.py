"""Set-based writes of truth (ImageLabel + LabelHistory) and evidence, staged with COPY."""

from __future__ import annotations

from collections.abc import Iterable

from annotator.dataset.models import EvidenceSource, HistorySource


def apply_truth(
    rows: Iterable[tuple[int, int, int]],
    *,
    source_ref: str,
    reason: str,
    source: str = HistorySource.IMPORT,
    user_id: int | None = None,
    expand: bool = True,
    overwrite_decisions: bool = False,
) -> dict[str, int]:
    """Set ``(image_id, label_id, state)`` rows (state 1 positive, 0 verified negative).

    Positives are expanded through the label closure (ancestors + implied); those added
    rows get history ``source="relation"`` and reason ``implied by <key>``. Within the
    input a positive beats a negative for the same (image, label) (counted as
    ``conflicts``). A row whose state is already the one asked for is untouched: no
    history row, so importing the same file twice changes nothing. Unless
    ``overwrite_decisions``, states last set by a person (annotator/audit/admin/revert)
    are kept and counted as ``kept_decisions``.
    Returns counts: truth_created, truth_changed, truth_unchanged, truth_implied,
    kept_decisions, conflicts.
    """
    raise NotImplementedError


def apply_evidence(rows: Iterable[tuple[int, int, float | None, str]], *, source: EvidenceSource) -> dict[str, int]:
    """Upsert ``(image_id, label_id, score, keyword)`` evidence of one source (no history: not truth).

    Duplicate (image, label) rows keep the highest score. Returns counts evidence_created,
    evidence_updated, evidence_unchanged.
    """
    raise NotImplementedError


def evidence_source_get_or_create(*, kind: str, name: str) -> EvidenceSource:
    """The EvidenceSource ``kind:name``, created when missing."""
    source, _ = EvidenceSource.objects.get_or_create(kind=kind, name=name)
    return source
