"""Threshold picking on a version's stored PR curves (what the version page shows live).

The rules are ``training.thresholds.operating_point``'s: for a target precision, the
threshold with the highest recall among those meeting it; for a target recall, the highest
precision among those meeting it; the page's script (static/js/modeling_version.js) applies
the same rules to the same stored curves, so what an admin sees is what gets saved.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np

MODES = ("precision", "recall")


class ThresholdTarget(TypedDict):
    mode: str  # "precision" or "recall"
    target: float


def curve_from_stored(stored: dict[str, list[float]]) -> Any:
    """A ``training.metrics.PRCurve`` from a pr_curves.json entry."""
    from training.metrics import PRCurve

    return PRCurve(
        precision=np.asarray(stored["precision"], dtype=np.float64),
        recall=np.asarray(stored["recall"], dtype=np.float64),
        thresholds=np.asarray(stored["thresholds"], dtype=np.float64),
    )


def target_check(raw: Any, *, where: str) -> ThresholdTarget:
    """A ``{"mode", "target"}`` mapping checked; ValueError naming ``where`` otherwise."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected {{'mode': 'precision'|'recall', 'target': 0..1}}")
    mode = raw.get("mode")
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be 'precision' or 'recall', got {mode!r}")
    try:
        target = float(raw.get("target"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: target must be a number between 0 and 1") from None
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"{where}: target must be between 0 and 1, got {target}")
    return {"mode": str(mode), "target": target}


def pick(stored: dict[str, list[float]] | None, target: ThresholdTarget) -> dict[str, Any]:
    """The operating point of one stored curve: threshold, precision, recall (None when unreachable)."""
    from training.thresholds import operating_point

    point = None
    if stored is not None:
        point = operating_point(curve_from_stored(stored), mode=target["mode"], target=target["target"])  # type: ignore[arg-type]
    base = {"mode": target["mode"], "target": target["target"]}
    if point is None:
        return {**base, "threshold": None, "precision": None, "recall": None}
    return {**base, "threshold": point["threshold"], "precision": point["precision"], "recall": point["recall"]}


def pick_for_version(*, version: Any, targets: dict[str, ThresholdTarget]) -> dict[str, dict[str, Any]]:
    """``pick`` for every label of ``targets`` on ``version``'s stored curves."""
    curves = version.pr_curves or {}
    return {key: pick(curves.get(key), target) for key, target in targets.items()}
