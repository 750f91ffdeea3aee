"""Writes of the cleaning app: rerank (set-based), decisions and undo. Leases: annotator/cleaning/leases.py."""

from annotator.cleaning.services.decisions import (
    ItemHeldByOther,
    NothingToUndo,
    UndoResult,
    decision_record,
    decision_undo,
    image_label_add,
)
from annotator.cleaning.services.rerank import queues_rerank

__all__ = [
    "ItemHeldByOther",
    "NothingToUndo",
    "UndoResult",
    "decision_record",
    "decision_undo",
    "image_label_add",
    "queues_rerank",
]
