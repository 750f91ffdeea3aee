"""Writes of the audits app: drawing samples (sampling.py) and judging items (judging.py)."""

from annotator.audits.services.judging import (
    AuditStateError,
    audit_explain,
    audit_judge,
    audit_second_look,
    audit_withdraw,
)
from annotator.audits.services.sampling import SampleDrawn, SampleRefused, sample_draw, samples_draw_range

__all__ = [
    "AuditStateError",
    "SampleDrawn",
    "SampleRefused",
    "audit_explain",
    "audit_judge",
    "audit_second_look",
    "audit_withdraw",
    "sample_draw",
    "samples_draw_range",
]
